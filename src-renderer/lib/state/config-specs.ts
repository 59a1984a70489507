/**
 * The fields of each source and target type as the add forms show them, and the `config`
 * object built from what was typed. Field names are the wire names of
 * src-shared/api/{sources,targets}.ts; an empty optional field is left out so the engine
 * applies its default.
 */
import type { MessageKey } from '../../../src-shared/i18n/index.js';
import type { CloudType, SourceType } from '../../../src-shared/states.js';

export type FieldKind = 'text' | 'password' | 'port' | 'checkbox' | 'textarea' | 'list';

export interface FieldSpec {
  key: string;
  label: MessageKey;
  kind: FieldKind;
  required?: boolean;
  hint?: MessageKey;
  placeholder?: string;
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
