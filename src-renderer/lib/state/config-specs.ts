/**
 * The fields of each source and target type as the add forms show them, and the `config`
 * object built from what was typed. Field names are the wire names of
 * src-shared/api/{sources,targets}.ts; an empty optional field is left out so the engine
 * applies its default.
 */
import type { MessageKey } from '../../../src-shared/i18n/index.js';
import type { CloudType, SourceType } from '../../../src-shared/states.js';

export type FieldKind = 'text' | 'password' | 'port' | 'checkbox' | 'textarea' | 'list' | 'choice';

export interface FieldSpec {
  key: string;
  label: MessageKey;
  kind: FieldKind;
  required?: boolean;
  hint?: MessageKey;
  placeholder?: string;
  /** The values a `choice` field offers; left empty, the engine's default applies. */
  choices?: readonly string[];
}

export type FieldValues = Record<string, string | boolean>;

export const SOURCE_FIELDS: Record<SourceType, FieldSpec[]> = {
  Image: [{ key: 'path', label: 'sources.path', kind: 'text', required: true, hint: 'sources.path_hint' }],
  VMware: [
    { key: 'host', label: 'form.vc_host', kind: 'text', required: true, placeholder: 'vcenter.example.local' },
    { key: 'port', label: 'form.port', kind: 'port', placeholder: '443' },
    { key: 'username', label: 'form.username', kind: 'text', required: true, placeholder: 'administrator@vsphere.local' },
    { key: 'password', label: 'form.password', kind: 'password', required: true, hint: 'form.secret_hint' },
    { key: 'thumbprint', label: 'form.thumbprint', kind: 'text', hint: 'form.thumbprint_hint' },
  ],
  Agent: [
    { key: 'address', label: 'form.address', kind: 'text', required: true, placeholder: '10.0.0.12' },
    { key: 'port', label: 'form.port', kind: 'port', placeholder: '22' },
    { key: 'username', label: 'form.username', kind: 'text', required: true, placeholder: 'root' },
    { key: 'password', label: 'form.password', kind: 'password', hint: 'form.password_or_key' },
    { key: 'private_key', label: 'form.private_key', kind: 'textarea', hint: 'form.secret_hint' },
    { key: 'passphrase', label: 'form.passphrase', kind: 'password' },
    { key: 'sudo', label: 'form.sudo', kind: 'checkbox' },
    { key: 'host_key', label: 'form.host_key', kind: 'text', hint: 'form.host_key_hint', placeholder: 'SHA256:…' },
    { key: 'disks', label: 'form.disks', kind: 'list', hint: 'form.disks_hint', placeholder: '/dev/sda /dev/sdb' },
  ],
};

export const TARGET_FIELDS: Record<CloudType, FieldSpec[]> = {
  Local: [{ key: 'path', label: 'targets.path', kind: 'text', required: true, hint: 'targets.path_hint' }],
  OpenStack: [
    { key: 'os_auth_url', label: 'form.os_auth_url', kind: 'text', required: true, placeholder: 'http://192.168.10.201:5000/v3' },
    { key: 'os_username', label: 'form.username', kind: 'text', required: true },
    { key: 'os_password', label: 'form.password', kind: 'password', required: true, hint: 'form.secret_hint' },
    { key: 'os_project_name', label: 'form.os_project_name', kind: 'text', required: true },
    { key: 'os_user_domain_id', label: 'form.os_user_domain_id', kind: 'text', placeholder: 'default' },
    { key: 'os_project_domain_id', label: 'form.os_project_domain_id', kind: 'text', placeholder: 'default' },
    { key: 'os_region_name', label: 'form.os_region_name', kind: 'text', placeholder: 'RegionOne' },
    { key: 'volume_availability_zone', label: 'form.volume_availability_zone', kind: 'text', placeholder: 'nova' },
    { key: 'auth_url', label: 'form.gate_address', kind: 'text', hint: 'form.gate_hint' },
    { key: 'port', label: 'form.gate_port', kind: 'port', placeholder: '18090' },
    { key: 'volume_type', label: 'form.volume_type', kind: 'text' },
    { key: 'gateway_mode', label: 'form.gateway_mode', kind: 'choice', choices: ['dedicated', 'shared'], hint: 'form.gateway_mode_hint' },
    { key: 'gateway_server_id', label: 'form.gateway_server_id', kind: 'text', hint: 'form.gateway_server_hint' },
    { key: 'gateway_image_id', label: 'form.gateway_image_id', kind: 'text' },
    { key: 'gateway_flavor_id', label: 'form.gateway_flavor_id', kind: 'text' },
    { key: 'gateway_network_id', label: 'form.gateway_network_id', kind: 'text' },
    { key: 'gateway_address', label: 'form.gateway_address', kind: 'text', hint: 'form.gateway_address_hint' },
    { key: 'gateway_ssh_port', label: 'form.gateway_ssh_port', kind: 'port', placeholder: '22' },
    { key: 'gateway_username', label: 'form.gateway_username', kind: 'text', placeholder: 'root' },
    { key: 'gateway_password', label: 'form.gateway_password', kind: 'password', hint: 'form.secret_hint' },
    { key: 'gateway_private_key', label: 'form.gateway_private_key', kind: 'textarea', hint: 'form.secret_hint' },
    { key: 'gateway_passphrase', label: 'form.passphrase', kind: 'password' },
    { key: 'gateway_host_key', label: 'form.host_key', kind: 'text', hint: 'form.host_key_hint', placeholder: 'SHA256:…' },
    { key: 'gateway_sudo', label: 'form.sudo', kind: 'checkbox' },
  ],
  KVM: [
    { key: 'address', label: 'form.address', kind: 'text', required: true },
    { key: 'port', label: 'form.port', kind: 'port', placeholder: '22' },
    { key: 'username', label: 'form.username', kind: 'text', required: true },
    { key: 'password', label: 'form.password', kind: 'password', hint: 'form.password_or_key' },
    { key: 'private_key', label: 'form.private_key', kind: 'textarea', hint: 'form.secret_hint' },
    { key: 'passphrase', label: 'form.passphrase', kind: 'password' },
    { key: 'sudo', label: 'form.sudo', kind: 'checkbox' },
    { key: 'host_key', label: 'form.host_key', kind: 'text', hint: 'form.host_key_hint', placeholder: 'SHA256:…' },
    { key: 'path', label: 'form.kvm_path', kind: 'text', placeholder: '/var/lib/rehost' },
    { key: 'libvirt_uri', label: 'form.libvirt_uri', kind: 'text', placeholder: 'qemu:///system', hint: 'form.libvirt_uri_hint' },
  ],
};

/** Empty values for a field list (checkboxes off). */
export function emptyValues(fields: readonly FieldSpec[]): FieldValues {
  return Object.fromEntries(fields.map((f) => [f.key, f.kind === 'checkbox' ? false : '']));
}

/** The keys of required fields still empty. */
export function missingFields(fields: readonly FieldSpec[], values: FieldValues): string[] {
  return fields.filter((f) => f.required && String(values[f.key] ?? '').trim() === '').map((f) => f.key);
}

/**
 * `config` from the typed values: ports as integers (a non-number is sent as typed so the engine
 * names the field), lists split on commas and spaces, checkboxes only when ticked, secrets
 * as typed (not trimmed), other text trimmed; empty values left out.
 */
export function buildConfig(fields: readonly FieldSpec[], values: FieldValues): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f.key];
    if (f.kind === 'checkbox') {
      if (v === true) config[f.key] = true;
      continue;
    }
    const raw = typeof v === 'string' ? v : '';
    const text = f.kind === 'password' || f.kind === 'textarea' ? raw : raw.trim();
    if (text.trim() === '') continue;
    if (f.kind === 'port') config[f.key] = /^\d+$/.test(text) ? Number(text) : text;
    else if (f.kind === 'list') config[f.key] = text.split(/[\s,]+/).filter(Boolean);
    else config[f.key] = text;
  }
  return config;
}
