/**
 * The property collector, paged: `RetrievePropertiesEx` returns a page and a token,
 * `ContinueRetrievePropertiesEx` the next ones, until no token is returned.
 */
import type { VimClient } from './client.js';
import { moRef, moRefXml, type MoRef } from './types.js';
import { child, childText, children, esc, type XmlNode } from './xml.js';

/** One object's requested properties, by property path. */
export interface ObjectContent {
  ref: MoRef;
  props: Map<string, XmlNode | string>;
}

/** Properties wanted per managed object type. */
export type PropertyPlan = Record<string, readonly string[]>;

const PAGE_SIZE = 100;

function propSetXml(plan: PropertyPlan): string {
  return Object.entries(plan)
    .map(([type, paths]) => `<propSet><type>${esc(type)}</type>${paths.map((p) => `<pathSet>${esc(p)}</pathSet>`).join('')}</propSet>`)
    .join('');
}

function toContents(returnval: unknown): ObjectContent[] {
  return children(returnval, 'objects').map((o) => {
    const props = new Map<string, XmlNode | string>();
    for (const p of children(o, 'propSet')) {
      const val = child(p, 'val');
      if (val !== undefined) props.set(childText(p, 'name'), val);
    }
    return { ref: moRef(child(o, 'obj'))!, props };
  });
}

async function retrieve(client: VimClient, specSet: string, signal: AbortSignal): Promise<ObjectContent[]> {
  const pc = client.serviceContent.propertyCollector;
  const out: ObjectContent[] = [];
  let res = await client.call('RetrievePropertiesEx', pc, `<specSet>${specSet}</specSet><options><maxObjects>${PAGE_SIZE}</maxObjects></options>`, signal);
  for (;;) {
    const rv = child(res, 'returnval');
    out.push(...toContents(rv));
    const token = childText(rv, 'token');
    if (token === '') return out;
    res = await client.call('ContinueRetrievePropertiesEx', pc, `<token>${esc(token)}</token>`, signal);
  }
}

/** Every object of the plan's types under `root` (recursively), through a container view. */
export async function retrieveTree(client: VimClient, root: MoRef, plan: PropertyPlan, signal: AbortSignal): Promise<ObjectContent[]> {
  const sc = client.serviceContent;
  const types = Object.keys(plan).map((t) => `<type>${esc(t)}</type>`).join('');
  const created = await client.call('CreateContainerView', sc.viewManager, `${moRefXml('container', root)}${types}<recursive>true</recursive>`, signal);
  const view = moRef(child(created, 'returnval'))!;
  try {
    const objectSet =
      `<objectSet>${moRefXml('obj', view)}<skip>true</skip>` +
      `<selectSet xsi:type="TraversalSpec"><name>view</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet>`;
    return await retrieve(client, `${propSetXml(plan)}${objectSet}`, signal);
  } finally {
    await client.call('DestroyView', view, '', signal).catch(() => undefined);
  }
}

/** Some properties of one object. */
export async function retrieveOne(client: VimClient, ref: MoRef, paths: readonly string[], signal: AbortSignal): Promise<Map<string, XmlNode | string>> {
  const spec = `${propSetXml({ [ref.type]: paths })}<objectSet>${moRefXml('obj', ref)}<skip>false</skip></objectSet>`;
  const [found] = await retrieve(client, spec, signal);
  return found?.props ?? new Map();
}
