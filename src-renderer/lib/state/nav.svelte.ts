/** Which screen the shell shows, kept in the URL hash (`#/jobs`) so Back and reload work. */

export const VIEWS = ['hosts', 'jobs', 'sources', 'targets'] as const;
export type View = (typeof VIEWS)[number];

/** The view a hash names (`#/jobs`), or null for any other hash. */
function fromHash(hash: string): View | null {
  const name = hash.replace(/^#\/?/, '');
  return (VIEWS as readonly string[]).includes(name) ? (name as View) : null;
}

class NavState {
  view = $state<View>((typeof location === 'undefined' ? null : fromHash(location.hash)) ?? 'hosts');

  constructor() {
    if (typeof window !== 'undefined') {
      window.addEventListener('hashchange', () => (this.view = fromHash(location.hash) ?? this.view));
    }
  }

  href(view: View): string {
    return `#/${view}`;
  }
}

export const nav = new NavState();
