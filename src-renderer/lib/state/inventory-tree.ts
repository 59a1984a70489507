/**
 * The vSphere inventory tree of a source (GET /sources/:id → `tree`, opaque to the engine core)
 * as nodes the Sources screen can show: datacenters → clusters → hosts → folders → VMs. Any
 * object with a name and child arrays under those keys (or `children`) is accepted; VMs are
 * matched to the source's registrable machines by id, then by name.
 */

export type NodeKind = 'datacenter' | 'cluster' | 'host' | 'folder' | 'vm' | 'node';

export interface TreeNode {
  key: string;
  name: string;
  kind: NodeKind;
  /** The registrable machine this VM is, when it is one. */
  hostId: string | null;
  children: TreeNode[];
}

const CHILD_KEYS: [string, NodeKind][] = [
  ['datacenters', 'datacenter'],
  ['clusters', 'cluster'],
  ['hosts', 'host'],
  ['folders', 'folder'],
  ['vms', 'vm'],
  ['children', 'node'],
];

const KINDS = new Set<NodeKind>(['datacenter', 'cluster', 'host', 'folder', 'vm']);

function kindOf(raw: Record<string, unknown>, fallback: NodeKind): NodeKind {
  const t = String(raw.type ?? raw.kind ?? '').toLowerCase();
  if (t === 'virtualmachine') return 'vm';
  if (t === 'clustercomputeresource') return 'cluster';
  if (t === 'hostsystem') return 'host';
  return KINDS.has(t as NodeKind) ? (t as NodeKind) : fallback;
}

export interface Machine {
  id: string;
  name: string;
}

function toNodes(raw: unknown, fallback: NodeKind, path: string, machines: readonly Machine[]): TreeNode[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((item, i) => {
    if (item === null || typeof item !== 'object') return [];
    const r = item as Record<string, unknown>;
    const name = String(r.name ?? r.label ?? r.id ?? `#${i + 1}`);
    const kind = kindOf(r, fallback);
    const key = `${path}/${i}:${name}`;
    const children = CHILD_KEYS.flatMap(([k, childKind]) => toNodes(r[k], childKind, key, machines));
    const ref = [r.id, r.uuid, r.ref, r.moref].filter((v): v is string => typeof v === 'string');
    const match = kind === 'vm' || children.length === 0 ? (machines.find((m) => ref.includes(m.id)) ?? machines.find((m) => m.name === name)) : undefined;
    return [{ key, name, kind: match && kind === 'node' ? 'vm' : kind, hostId: match?.id ?? null, children }];
  });
}

/** Nodes of a tree in any of the accepted shapes; an empty list when there is no tree. */
export function normalizeTree(tree: unknown, machines: readonly Machine[]): TreeNode[] {
  if (Array.isArray(tree)) return toNodes(tree, 'node', '', machines);
  if (tree === null || typeof tree !== 'object') return [];
  const r = tree as Record<string, unknown>;
  const top = CHILD_KEYS.flatMap(([k, kind]) => toNodes(r[k], kind, '', machines));
  return top.length > 0 ? top : toNodes([tree], 'node', '', machines);
}

/** The tree pruned to nodes whose name contains `query` (with their ancestors). */
export function filterTree(nodes: readonly TreeNode[], query: string): TreeNode[] {
  const q = query.trim().toLowerCase();
  if (q === '') return [...nodes];
  return nodes.flatMap((n) => {
    if (n.name.toLowerCase().includes(q)) return [n];
    const children = filterTree(n.children, q);
    return children.length > 0 ? [{ ...n, children }] : [];
  });
}

/** The registrable machine ids under a node (itself included). */
export function hostIdsUnder(node: TreeNode): string[] {
  return [...(node.hostId ? [node.hostId] : []), ...node.children.flatMap(hostIdsUnder)];
}
