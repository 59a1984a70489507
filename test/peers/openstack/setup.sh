#!/bin/bash
# Rehost's copy of ../shared/tools/openstack/setup.sh, driven by test/peers/openstack.ts
# (LAB=/tmp/rehost-openstack unless REHOST_OPENSTACK_LAB is set). Unchanged otherwise.
# Local OpenStack API peer on one Debian 12 (bookworm) machine, loopback only.
#   Keystone + Placement + Glance (file store) + Cinder (api/scheduler/volume/backup;
#   file-backed volume driver built on cinder's own test FakeLoggingVolumeDriver)
#   + Neutron (ML2 + L3 router plugin; a 40-line agentless mechanism driver binds
#   ports and plays the L3 agent for floating-IP status) + Nova (api/conductor/
#   scheduler/compute with nova.virt.fake.FakeDriver), RabbitMQ, MariaDB.
# Everything else is Debian's own packaged OpenStack "Zed" code (python3-nova etc.);
# only the hypervisor, the storage dataplane and the network agents are faked.
#
# usage: setup.sh [all|install|configure|start|stop]     (default: all)
#        setup.sh fn STEP...    run single steps (start_keystone, seed, ...)
#   LAB=/some/dir    state, configs, logs, pids go under $LAB
#                    (default /tmp/rehost-openstack; wiped by 'configure')
#   DB=sqlite        experimental, does NOT work: keystone fails "database is locked"
#   SKIP_APT_UPDATE=1  skip 'apt-get update' in the install step
# 'start' always bootstraps a fresh cloud: run 'stop; configure; start' to reset.
# Needs root. Services listen on 127.0.0.1 only:
#   keystone 5000, placement 8778, glance 9292, cinder 8776, neutron 9696,
#   nova 8774, rabbitmq 5672 (+epmd 4369, dist 25672), mariadb 3306.
# Credentials: admin/secret (project admin), demo/secret (project demo, role member);
#   $LAB/openrc exports the admin ones for the openstack CLI.
set -euo pipefail

LAB=${LAB:-/tmp/rehost-openstack}
PW=${OS_LAB_PASSWORD:-secret}          # admin + all service users
REGION=RegionOne
PY=/usr/bin/python3                    # Debian's python (pyenv/venv pythons lack the libs)
H=127.0.0.1
KS=http://$H:5000
export PYTHONDONTWRITEBYTECODE=1
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH   # make sure Debian's python3 wins
RABBIT_URL="rabbit://guest:guest@$H:5672/"
DB=${DB:-mysql}                        # mysql (MariaDB, default) | sqlite (see REPORT: locks)
UWSGI_THREADS=$([ "$DB" = sqlite ] && echo 1 || echo 4)   # sqlite: one writer thread or "database is locked"
dburl() {  # dburl name -> SQLAlchemy URL
  if [ "$DB" = sqlite ]; then echo "sqlite:///$LAB/db/$1.sqlite"
  else echo "mysql+pymysql://openstack:$PW@$H:3306/$1?charset=utf8"; fi
}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---------------------------------------------------------------- install
do_install() {
  log "apt-get install (library packages only: no init scripts, no dbconfig)"
  export DEBIAN_FRONTEND=noninteractive
  [ "${SKIP_APT_UPDATE:-0}" = 1 ] || apt-get update -q >/dev/null
  # keep apt from starting rabbitmq/mariadb system services through invoke-rc.d
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -q --no-install-recommends \
    python3-keystone python3-nova python3-cinder python3-neutron \
    python3-placement python3-glance python3-openstackclient \
    rabbitmq-server uwsgi-core uwsgi-plugin-python3 curl mariadb-server \
    qemu-utils dmidecode >/dev/null
  # api-paste.ini files live in the *-common packages, whose maintainer
  # scripts (dbconfig-common, users, init) we do not want: just unpack them.
  mkdir -p "$LAB/debs"
  ( cd "$LAB/debs" && apt-get download -q nova-common cinder-common neutron-common glance-common >/dev/null 2>&1
    for f in *.deb; do d=x-${f%%_*}; mkdir -p "$d"; dpkg-deb -x "$f" "$d"; done )
}

# ---------------------------------------------------------------- configure
ksauth() {  # keystone_authtoken-style block for user $1
cat <<EOF
www_authenticate_uri = $KS
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PW
region_name = $REGION
EOF
}

mkwrapper() {  # mkwrapper name module  -> $LAB/bin/name (console script)
  cat > "$LAB/bin/$1" <<EOF
#!$PY
import sys
from $2 import main
sys.argv[0] = "$1"
sys.exit(main())
EOF
  chmod +x "$LAB/bin/$1"
}

do_configure() {
  log "writing configs under $LAB"
  [ -d "$LAB/debs" ] || { echo "run '$0 install' first" >&2; exit 1; }
  for f in "$LAB"/pids/*.pid; do [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && { echo "services still running: $0 stop first" >&2; exit 1; }; done
  rm -rf "$LAB"/{etc,db,state,log,pids,bin,pylib,rabbit,mysql}
  mkdir -p "$LAB"/{etc,db,log,pids,bin,pylib} \
           "$LAB"/etc/{keystone,placement,glance,cinder,neutron,nova} \
           "$LAB"/state/{keystone,glance/images,glance/staging,glance/tasks,cinder/backups,neutron,nova/instances,locks} \
           "$LAB"/rabbit/mnesia

  for s in nova-api:nova.cmd.api nova-conductor:nova.cmd.conductor nova-scheduler:nova.cmd.scheduler \
           nova-compute:nova.cmd.compute nova-manage:nova.cmd.manage \
           cinder-api:cinder.cmd.api cinder-scheduler:cinder.cmd.scheduler cinder-volume:cinder.cmd.volume \
           cinder-backup:cinder.cmd.backup cinder-manage:cinder.cmd.manage \
           neutron-server:neutron.cmd.eventlet.server neutron-db-manage:neutron.db.migration.cli \
           glance-api:glance.cmd.api glance-manage:glance.cmd.manage; do
    mkwrapper "${s%%:*}" "${s#*:}"
  done

  # --- rabbitmq (loopback only)
  cat > "$LAB/rabbit/env.sh" <<EOF
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=$H
export RABBITMQ_NODE_PORT=5672
export ERL_EPMD_ADDRESS=$H
export RABBITMQ_DIST_PORT=25672
export RABBITMQ_SERVER_START_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_MNESIA_BASE=$LAB/rabbit/mnesia
export RABBITMQ_LOG_BASE=$LAB/log
export RABBITMQ_CONFIG_FILE=$LAB/rabbit/rabbitmq
export RABBITMQ_ENABLED_PLUGINS_FILE=$LAB/rabbit/enabled_plugins
export HOME=$LAB/rabbit
EOF
  printf 'listeners.tcp.default = %s:5672\nloopback_users.guest = true\n' $H > "$LAB/rabbit/rabbitmq.conf"
  echo '[].' > "$LAB/rabbit/enabled_plugins"

  # --- keystone
  cat > "$LAB/etc/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $LAB/log/keystone.log
[database]
connection = $(dburl keystone)
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $LAB/etc/keystone/fernet-keys
[fernet_receipts]
key_repository = $LAB/etc/keystone/fernet-keys
[credential]
key_repository = $LAB/etc/keystone/credential-keys
EOF

  # --- placement
  cat > "$LAB/etc/placement/placement.conf" <<EOF
[DEFAULT]
log_file = $LAB/log/placement.log
[api]
auth_strategy = keystone
[placement_database]
connection = $(dburl placement)
[keystone_authtoken]
$(ksauth placement)
EOF

  # --- glance (file store)
  cp "$LAB/debs/x-glance-common/usr/share/glance-common/glance-api-paste.ini" "$LAB/etc/glance/"
  cat > "$LAB/etc/glance/glance-api.conf" <<EOF
[DEFAULT]
bind_host = $H
bind_port = 9292
workers = 1
enabled_backends = file:file
transport_url = $RABBIT_URL
[database]
connection = $(dburl glance)
[glance_store]
default_backend = file
[file]
filesystem_store_datadir = $LAB/state/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $LAB/state/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $LAB/state/glance/tasks
[keystone_authtoken]
$(ksauth glance)
[paste_deploy]
flavor = keystone
config_file = $LAB/etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $LAB/state/locks
[oslo_messaging_notifications]
driver = noop
EOF

  # --- cinder (real API/scheduler/volume-manager/backup code; file-backed driver)
  cp "$LAB/debs/x-cinder-common/usr/share/cinder-common/api-paste.ini" "$LAB/etc/cinder/"
  cat > "$LAB/pylib/lab_cinder_file.py" <<'EOF'
"""Cinder volume driver that keeps every volume as a sparse file.

Built on cinder's own FakeLoggingVolumeDriver (cinder/tests/fake_driver.py,
LVM driver code with a fake VG), but the data is real: volumes, snapshots,
clones, extend, revert, image->volume (qemu-img via cinder.image.image_utils),
volume->image upload and cinder-backup (posix driver) all move real bytes.
Connections are of type 'local' (os-brick LocalConnector: a file path), so no
iSCSI target is needed. Stands in for LVM, which needs device-mapper."""
import os
import subprocess

from cinder.tests import fake_driver
from cinder.volume import volume_utils

GiB = 1024 ** 3


class FileVolumeDriver(fake_driver.FakeLoggingVolumeDriver):
    VERSION = '1.0.0'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.backend_name = (self.configuration.safe_get('volume_backend_name')
                             or 'file')
        self.protocol = 'local'

    def do_setup(self, context):
        os.makedirs(self.configuration.volumes_dir, exist_ok=True)

    def local_path(self, volume, vg=None):
        return os.path.join(self.configuration.volumes_dir, volume['name'])

    def _snap_path(self, snapshot):
        return os.path.join(self.configuration.volumes_dir, snapshot['name'])

    @staticmethod
    def _grow(path, size_gb):
        with open(path, 'ab'):
            pass
        if os.path.getsize(path) < int(size_gb) * GiB:
            os.truncate(path, int(size_gb) * GiB)

    @staticmethod
    def _copy(src, dst):
        subprocess.check_call(['cp', '--sparse=always', src, dst])

    @staticmethod
    def _rm(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    @volume_utils.trace_method
    def create_volume(self, volume):
        self._grow(self.local_path(volume), volume['size'])

    @volume_utils.trace_method
    def delete_volume(self, volume):
        self._rm(self.local_path(volume))

    @volume_utils.trace_method
    def create_snapshot(self, snapshot):
        self._copy(os.path.join(self.configuration.volumes_dir,
                                snapshot['volume_name']),
                   self._snap_path(snapshot))

    @volume_utils.trace_method
    def delete_snapshot(self, snapshot):
        self._rm(self._snap_path(snapshot))

    @volume_utils.trace_method
    def create_volume_from_snapshot(self, volume, snapshot):
        self._copy(self._snap_path(snapshot), self.local_path(volume))
        self._grow(self.local_path(volume), volume['size'])

    @volume_utils.trace_method
    def create_cloned_volume(self, volume, src_vref):
        self._copy(self.local_path(src_vref), self.local_path(volume))
        self._grow(self.local_path(volume), volume['size'])

    @volume_utils.trace_method
    def revert_to_snapshot(self, context, volume, snapshot):
        self._copy(self._snap_path(snapshot), self.local_path(volume))

    @volume_utils.trace_method
    def extend_volume(self, volume, new_size):
        self._grow(self.local_path(volume), new_size)

    def copy_image_to_volume(self, context, volume, image_service, image_id):
        super().copy_image_to_volume(context, volume, image_service, image_id)
        self._grow(self.local_path(volume), volume['size'])

    @volume_utils.trace_method
    def initialize_connection(self, volume, connector):
        conn = super().initialize_connection(volume, connector)
        conn['driver_volume_type'] = 'local'
        conn['data']['device_path'] = self.local_path(volume)
        return conn

    @volume_utils.trace_method
    def initialize_connection_snapshot(self, snapshot, connector):
        return {'driver_volume_type': 'local',
                'data': {'device_path': self._snap_path(snapshot),
                         'access_mode': 'ro'}}
EOF
  cat > "$LAB/etc/cinder/cinder.conf" <<EOF
[DEFAULT]
transport_url = $RABBIT_URL
auth_strategy = keystone
my_ip = $H
host = cinder1
osapi_volume_listen = $H
osapi_volume_listen_port = 8776
osapi_volume_workers = 1
api_paste_config = $LAB/etc/cinder/api-paste.ini
state_path = $LAB/state/cinder
enabled_backends = fake
default_volume_type = standard
backup_driver = cinder.backup.drivers.posix.PosixBackupDriver
backup_posix_path = $LAB/state/cinder/backups
rootwrap_config = /nonexistent
# the scheduler places volumes only on backends whose capabilities it has heard; the defaults
# (60 s interval plus up to 60 s random start delay) leave a cold cloud unable to place a volume
# for up to two minutes, so report at once and every 10 s
periodic_interval = 10
periodic_fuzzy_delay = 0
[database]
connection = $(dburl cinder)
[fake]
volume_driver = lab_cinder_file.FileVolumeDriver
volume_backend_name = fake
volumes_dir = $LAB/state/cinder/volumes
[privsep_osbrick]
helper_command = privsep-helper --config-file $LAB/etc/cinder/cinder.conf
[cinder_sys_admin]
helper_command = privsep-helper --config-file $LAB/etc/cinder/cinder.conf
[keystone_authtoken]
$(ksauth cinder)
service_token_roles_required = true
[nova]
$(ksauth cinder | grep -v www_authenticate_uri)
[service_user]
send_service_user_token = true
$(ksauth cinder | grep -v www_authenticate_uri)
[oslo_concurrency]
lock_path = $LAB/state/locks
[oslo_messaging_notifications]
driver = noop
EOF

  # --- neutron (ML2; ports are bound by a 25-line agentless mechanism driver)
  cp "$LAB/debs/x-neutron-common/usr/share/neutron-common/api-paste.ini" "$LAB/etc/neutron/"
  cat > "$LAB/pylib/lab_ml2_loopback.py" <<'EOF'
"""ML2 mechanism driver that binds every port without an L2 agent.

It stands in for the OVS/linuxbridge/OVN agent: port binding succeeds on
any host (vif_type 'ovs') and the port goes ACTIVE, which is what Nova
needs to finish booting a server; floating IPs go ACTIVE/DOWN on
(dis)association as an L3 agent would report. No dataplane is created."""
from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


from neutron_lib.callbacks import events
from neutron_lib.callbacks import registry
from neutron_lib.callbacks import resources
from neutron_lib import context as n_context
import eventlet


def _fip_status(resource, event, trigger, payload):
    """Play the L3 agent's part: a floating IP goes ACTIVE about a second
    after it is associated with a port, and DOWN when disassociated."""
    fip = payload.latest_state
    want = (constants.FLOATINGIP_STATUS_ACTIVE if fip.get('port_id')
            else constants.FLOATINGIP_STATUS_DOWN)
    if fip.get('status') != want:
        eventlet.spawn_after(1, trigger.update_floatingip_status,
                             n_context.get_admin_context(),
                             payload.resource_id, want)


class LoopbackMechanismDriver(api.MechanismDriver):
    def initialize(self):
        for ev in (events.AFTER_CREATE, events.AFTER_UPDATE):
            registry.subscribe(_fip_status, resources.FLOATING_IP, ev)

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID], portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True,
                 portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE)
            return
EOF
  mkdir -p "$LAB/pylib/lab_ml2_loopback-1.0.dist-info"
  printf 'Metadata-Version: 2.1\nName: lab-ml2-loopback\nVersion: 1.0\n' > "$LAB/pylib/lab_ml2_loopback-1.0.dist-info/METADATA"
  printf '[neutron.ml2.mechanism_drivers]\nloopback = lab_ml2_loopback:LoopbackMechanismDriver\n' > "$LAB/pylib/lab_ml2_loopback-1.0.dist-info/entry_points.txt"
  cat > "$LAB/etc/neutron/neutron.conf" <<EOF
[DEFAULT]
bind_host = $H
bind_port = 9696
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = $RABBIT_URL
api_paste_config = $LAB/etc/neutron/api-paste.ini
state_path = $LAB/state/neutron
allow_overlapping_ips = true
dhcp_agent_notification = false
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
[database]
connection = $(dburl neutron)
[keystone_authtoken]
$(ksauth neutron)
[nova]
$(ksauth neutron | grep -v www_authenticate_uri)
[oslo_concurrency]
lock_path = $LAB/state/locks
[oslo_messaging_notifications]
driver = noop
EOF
  cat > "$LAB/etc/neutron/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = loopback
extension_drivers = port_security
[ml2_type_flat]
flat_networks = public
[ml2_type_vlan]
network_vlan_ranges = physnet1:100:199
[ml2_type_vxlan]
vni_ranges = 1:1000
[securitygroup]
enable_security_group = true
EOF

  # --- nova (fake virt driver)
  cp "$LAB/debs/x-nova-common/usr/share/nova-common/api-paste.ini" "$LAB/etc/nova/"
  cat > "$LAB/etc/nova/nova.conf" <<EOF
[DEFAULT]
transport_url = $RABBIT_URL
my_ip = $H
host = compute1
compute_driver = fake.FakeDriver
state_path = $LAB/state/nova
instances_path = $LAB/state/nova/instances
enabled_apis = osapi_compute
osapi_compute_listen = $H
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
rootwrap_config = /nonexistent
[wsgi]
api_paste_config = $LAB/etc/nova/api-paste.ini
[api]
auth_strategy = keystone
[api_database]
connection = $(dburl nova_api)
[database]
connection = $(dburl nova)
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2
[keystone_authtoken]
$(ksauth nova)
service_token_roles_required = true
[service_user]
send_service_user_token = true
$(ksauth nova | grep -v www_authenticate_uri)
[placement]
$(ksauth nova | grep -v www_authenticate_uri)
[neutron]
$(ksauth nova | grep -v www_authenticate_uri)
[cinder]
os_region_name = $REGION
$(ksauth nova | grep -v www_authenticate_uri | grep -v region_name)
[glance]
region_name = $REGION
[vnc]
enabled = false
[oslo_concurrency]
lock_path = $LAB/state/locks
[oslo_messaging_notifications]
driver = noop
EOF
  awk '/^\[database\]|^\[api_database\]/{skip=1; next} /^\[/{skip=0} !skip' \
      "$LAB/etc/nova/nova.conf" > "$LAB/etc/nova/nova-cpu.conf"
}

# ---------------------------------------------------------------- start
spawn() {  # spawn name cmd... : detached, pid in $LAB/pids/name.pid
  local n=$1; shift
  setsid "$@" >> "$LAB/log/$n.out" 2>&1 < /dev/null &
  echo $! > "$LAB/pids/$n.pid"
}
wait_http() {  # wait_http url [seconds]
  local i
  for i in $(seq 1 "${2:-60}"); do
    curl -s -o /dev/null "$1" && return 0
    sleep 1
  done
  echo "timeout waiting for $1" >&2; return 1
}

start_rabbit() {
  log "rabbitmq"
  ( . "$LAB/rabbit/env.sh"; spawn rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server )
  ( . "$LAB/rabbit/env.sh"
    for i in $(seq 1 60); do /usr/lib/rabbitmq/bin/rabbitmqctl -q status >/dev/null 2>&1 && exit 0; sleep 1; done
    exit 1 )
  pgrep -x epmd > "$LAB/pids/epmd.pid" || true
}

start_db() {
  [ "$DB" = sqlite ] && return 0
  log "mariadb"
  mkdir -p "$LAB/mysql/data"
  mariadb-install-db --no-defaults --user=root --datadir="$LAB/mysql/data" \
     --auth-root-authentication-method=socket --skip-test-db >"$LAB/log/mariadb-install.log" 2>&1
  spawn mariadb /usr/sbin/mariadbd --no-defaults --user=root --datadir="$LAB/mysql/data" \
     --socket="$LAB/mysql/mysqld.sock" --pid-file="$LAB/mysql/mysqld.pid" \
     --bind-address=$H --port=3306 --skip-name-resolve --max-connections=500 \
     --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=0 \
     --innodb-doublewrite=0 --sync-binlog=0 --log-error="$LAB/log/mariadb.err"
  local i; for i in $(seq 1 30); do
    mariadb --no-defaults -S "$LAB/mysql/mysqld.sock" -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 1
  done
  { echo "CREATE USER 'openstack'@'127.0.0.1' IDENTIFIED BY '$PW';"
    for d in keystone placement glance cinder neutron nova_api nova nova_cell0; do
      echo "CREATE DATABASE $d CHARACTER SET utf8; GRANT ALL ON $d.* TO 'openstack'@'127.0.0.1';"
    done; } | mariadb --no-defaults -S "$LAB/mysql/mysqld.sock" -uroot
}

start_keystone() {
  log "keystone: db_sync, fernet, bootstrap"
  local K="keystone-manage --config-file $LAB/etc/keystone/keystone.conf"
  $K db_sync
  $K fernet_setup --keystone-user root --keystone-group root
  $K credential_setup --keystone-user root --keystone-group root
  $K bootstrap --bootstrap-password "$PW" --bootstrap-admin-url $KS/v3/ \
     --bootstrap-internal-url $KS/v3/ --bootstrap-public-url $KS/v3/ \
     --bootstrap-region-id $REGION
  spawn keystone uwsgi --plugin python3 --http-socket $H:5000 --wsgi-file /usr/bin/keystone-wsgi-public \
     --master --processes 1 --threads $UWSGI_THREADS --enable-threads --die-on-term --add-header 'Connection: close' \
     --env OS_KEYSTONE_CONFIG_FILES=$LAB/etc/keystone/keystone.conf
  wait_http $KS/v3
}

bootstrap_catalog() {
  log "keystone: service project, users, roles, catalog"
  OS_PW=$PW KS=$KS REGION=$REGION $PY - <<'EOF'
import os
from keystoneauth1.identity import v3
from keystoneauth1 import session
from keystoneclient.v3 import client
pw, ks, region = os.environ["OS_PW"], os.environ["KS"], os.environ["REGION"]
sess = session.Session(auth=v3.Password(auth_url=ks + "/v3", username="admin", password=pw,
        project_name="admin", user_domain_id="default", project_domain_id="default"))
kc = client.Client(session=sess)
project = kc.projects.create("service", "default")
admin_role = kc.roles.find(name="admin")
service_role = kc.roles.create("service")
for name in ("nova", "cinder", "neutron", "placement", "glance"):
    u = kc.users.create(name, domain="default", password=pw, default_project=project)
    kc.roles.grant(admin_role, user=u, project=project)
    kc.roles.grant(service_role, user=u, project=project)
h = "http://127.0.0.1"
catalog = [
    ("nova", "compute", h + ":8774/v2.1"),
    ("placement", "placement", h + ":8778"),
    ("glance", "image", h + ":9292"),
    ("cinderv3", "volumev3", h + ":8776/v3/%(project_id)s"),
    ("cinder", "block-storage", h + ":8776/v3/%(project_id)s"),
    ("neutron", "network", h + ":9696"),
]
for name, stype, url in catalog:
    svc = kc.services.create(name, stype)
    for iface in ("public", "internal", "admin"):
        kc.endpoints.create(svc, url, interface=iface, region=region)
EOF
}

start_placement() {
  log "placement"
  placement-manage --config-file "$LAB/etc/placement/placement.conf" db sync
  spawn placement uwsgi --plugin python3 --http-socket $H:8778 --wsgi-file /usr/bin/placement-api \
     --master --processes 1 --threads $UWSGI_THREADS --enable-threads --die-on-term --add-header 'Connection: close' \
     --env OS_PLACEMENT_CONFIG_DIR=$LAB/etc/placement
  wait_http http://$H:8778/
}

start_glance() {
  log "glance"
  "$LAB/bin/glance-manage" --config-file "$LAB/etc/glance/glance-api.conf" db_sync >/dev/null
  spawn glance-api "$LAB/bin/glance-api" --config-file "$LAB/etc/glance/glance-api.conf" \
     --log-file "$LAB/log/glance-api.log"
  wait_http http://$H:9292/
}

start_cinder() {
  log "cinder"
  local C="--config-file $LAB/etc/cinder/cinder.conf"
  "$LAB/bin/cinder-manage" $C db sync
  for s in api scheduler volume backup; do
    PYTHONPATH=$LAB/pylib spawn cinder-$s "$LAB/bin/cinder-$s" $C --log-file "$LAB/log/cinder-$s.log"
  done
  wait_http http://$H:8776/
}

start_neutron() {
  log "neutron"
  local C="--config-file $LAB/etc/neutron/neutron.conf --config-file $LAB/etc/neutron/ml2_conf.ini"
  "$LAB/bin/neutron-db-manage" $C upgrade heads >"$LAB/log/neutron-db-manage.log" 2>&1
  PYTHONPATH=$LAB/pylib spawn neutron-server "$LAB/bin/neutron-server" $C --log-file "$LAB/log/neutron-server.log"
  wait_http http://$H:9696/
}

start_nova() {
  log "nova"
  local C="--config-file $LAB/etc/nova/nova.conf"
  local M="$LAB/bin/nova-manage $C"
  $M api_db sync
  $M cell_v2 map_cell0 --database_connection "$(dburl nova_cell0)"
  $M cell_v2 create_cell --name cell1 --verbose >/dev/null
  $M db sync
  for s in api conductor scheduler; do
    spawn nova-$s "$LAB/bin/nova-$s" $C --log-file "$LAB/log/nova-$s.log"
  done
  # compute gets its own file without [database]/[api_database] (as devstack's nova-cpu.conf)
  spawn nova-compute "$LAB/bin/nova-compute" --config-file "$LAB/etc/nova/nova-cpu.conf" \
     --log-file "$LAB/log/nova-compute.log"
  wait_http http://$H:8774/
  log "nova: waiting for compute1 to register, then mapping it to cell1"
  local i; for i in $(seq 1 60); do
    $M cell_v2 discover_hosts 2>/dev/null
    $M cell_v2 list_hosts 2>/dev/null | grep -q compute1 && return 0
    sleep 1
  done
  echo "nova-compute did not register" >&2; return 1
}

seed() {  # what a devstack-like cloud has before tests run
  log "seed: volume type, flavors, external network 'public'"
  . "$LAB/openrc"
  openstack volume type create --property volume_backend_name=fake standard >/dev/null
  # roomy quotas for the admin project (defaults: 10 volumes, 10 instances, 50 floating IPs ...)
  openstack quota set --volumes 200 --snapshots 200 --backups 200 --gigabytes 20000 \
     --backup-gigabytes 20000 --instances 100 --cores 1000 --ram 2000000 \
     --ports 1000 --networks 100 --subnets 100 --routers 50 --floating-ips 200 \
     --secgroups 200 --secgroup-rules 2000 admin
  openstack flavor create --id 1 --vcpus 1 --ram 512 --disk 1 m1.tiny >/dev/null
  openstack flavor create --id 2 --vcpus 1 --ram 2048 --disk 20 m1.small >/dev/null
  openstack flavor create --id 3 --vcpus 2 --ram 4096 --disk 40 m1.medium >/dev/null
  # a non-admin tenant too (policy differences matter): demo/demo, role member
  openstack project create --domain default demo >/dev/null
  openstack user create --domain default --project demo --password "$PW" demo >/dev/null
  openstack role add --project demo --user demo member
  openstack network create --external --share --provider-network-type flat \
     --provider-physical-network public public >/dev/null
  # TEST-NET-3 documentation range: nothing is ever routed, no dataplane exists
  openstack subnet create --network public --subnet-range 203.0.113.0/24 --no-dhcp \
     --gateway 203.0.113.1 --allocation-pool start=203.0.113.10,end=203.0.113.250 public-subnet >/dev/null
  probe_volume
}

probe_volume() {  # the cloud is ready only when the scheduler can place a volume on the backend
  log "probe: a 1 GiB volume must become available"
  local i status id
  for i in $(seq 1 30); do
    id=$(openstack volume create --size 1 --type standard -f value -c id rehost-probe) || { sleep 5; continue; }
    status=creating
    while [ "$status" = creating ]; do sleep 1; status=$(openstack volume show -f value -c status "$id"); done
    openstack volume delete "$id" >/dev/null 2>&1
    local n; for n in $(seq 1 30); do openstack volume show "$id" >/dev/null 2>&1 || break; sleep 1; done
    [ "$status" = available ] && return 0
    log "probe: volume went to '$status'; the scheduler has not heard the backend yet, retrying"
    sleep 5
  done
  echo "cinder could not place a volume in time (see $LAB/log/cinder-scheduler.log)" >&2; return 1
}

write_openrc() {
  cat > "$LAB/openrc" <<EOF
export OS_AUTH_URL=$KS/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$PW
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=$REGION
EOF
}

do_start() {
  start_db
  start_rabbit
  start_keystone
  bootstrap_catalog
  write_openrc
  start_placement
  start_glance
  start_cinder
  start_neutron
  start_nova
  seed
  log "all services started; openrc: $LAB/openrc"
}

do_stop() {
  local f pid
  for f in "$LAB"/pids/*.pid; do
    [ -e "$f" ] || continue
    [ "$(basename "$f")" = epmd.pid ] && continue
    pid=$(cat "$f"); kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 3
  for f in "$LAB"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f"); kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; rm -f "$f"
  done
}

case "${1:-all}" in
  install)   do_install ;;
  configure) do_configure ;;
  start)     do_start ;;
  stop)      do_stop ;;
  all)       do_install; do_configure; do_start ;;
  fn)        shift; for f in "$@"; do "$f"; done ;;   # debugging: run single steps
  *) echo "usage: $0 [all|install|configure|start|stop|fn STEP...]" >&2; exit 2 ;;
esac
