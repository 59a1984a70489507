/**
 * XML helpers for vim25: envelope escaping and a tolerant reader over fast-xml-parser's output.
 * vcsim writes `XMLSchema-instance:type` where vCenter writes `xsi:type`, so namespace prefixes
 * are kept and the type attribute is found by its local name.
 */
import { XMLParser } from 'fast-xml-parser';

/** A parsed element: child elements by name, attributes as `@_name`, text as `#text`. */
export type XmlNode = { [key: string]: unknown };

/** Elements that may repeat: always parsed as arrays so one and many look the same. */
const REPEATED = new Set([
  'objects',
  'propSet',
  'ManagedObjectReference',
  'VirtualDevice',
  'GuestNicInfo',
  'ipAddress',
  'changedArea',
  'rootSnapshotList',
  'childSnapshotList',
  'missingSet',
  'device',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => REPEATED.has(name),
});

export function parseXml(text: string): XmlNode {
  return parser.parse(text) as XmlNode;
}

/** Escapes text for an element body or attribute. */
export function esc(value: string | number | boolean): string {
  return String(value).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The child element `name` (first one when repeated), ignoring a namespace prefix. */
export function child(node: unknown, name: string): XmlNode | string | undefined {
  if (!isNode(node)) return undefined;
  for (const [key, value] of Object.entries(node)) {
    if (key === name || key.endsWith(`:${name}`)) {
      const first = Array.isArray(value) ? value[0] : value;
      return isNode(first) || typeof first === 'string' ? first : undefined;
    }
  }
  return undefined;
}

/** All child elements `name`, as a list. */
export function children(node: unknown, name: string): (XmlNode | string)[] {
  if (!isNode(node)) return [];
  const value = node[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]) as (XmlNode | string)[];
}

/** The text content of a node (an element with attributes keeps it in `#text`). */
export function text(node: unknown): string {
  if (typeof node === 'string') return node;
  if (isNode(node) && typeof node['#text'] === 'string') return node['#text'];
  return '';
}

/** Text of the child `name`, or '' when absent. */
export function childText(node: unknown, name: string): string {
  return text(child(node, name));
}

export function childNumber(node: unknown, name: string): number {
  const value = childText(node, name);
  return value === '' ? 0 : Number(value);
}

export function childBool(node: unknown, name: string): boolean | null {
  const value = childText(node, name);
  return value === '' ? null : value === 'true';
}

/** The `xsi:type` of an element, whatever prefix the server gave the XMLSchema-instance namespace. */
export function xsiType(node: unknown): string {
  if (!isNode(node)) return '';
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('@_') && key.endsWith(':type') && typeof value === 'string') return value.replace(/^.*:/, '');
  }
  return '';
}

/** An attribute value. */
export function attr(node: unknown, name: string): string {
  if (!isNode(node)) return '';
  const value = node[`@_${name}`];
  return typeof value === 'string' ? value : '';
}
