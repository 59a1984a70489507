/** The vim25 shapes this client uses, typed. */
import { attr, text, type XmlNode } from './xml.js';

/** A managed object reference (`<obj type="VirtualMachine">vm-42</obj>`). */
export interface MoRef {
  type: string;
  value: string;
}

export function moRef(node: XmlNode | string | undefined): MoRef | null {
  if (node === undefined) return null;
  const value = text(node);
  const type = attr(node, 'type');
  return value === '' ? null : { type, value };
}

export function moRefXml(tag: string, ref: MoRef): string {
  return `<${tag} type="${ref.type}">${ref.value}</${tag}>`;
}

export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  viewManager: MoRef;
  sessionManager: MoRef;
  searchIndex: MoRef;
  about: { fullName: string; apiType: string; apiVersion: string; instanceUuid: string };
}
