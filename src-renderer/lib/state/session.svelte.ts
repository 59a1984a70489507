/**
 * Who is signed in. Phases: `starting` (checking a stored or desktop token), `signed-out`,
 * `must-change` (first login: PUT /users before anything else) and `ready`. The token lives in
 * sessionStorage (gone with the tab) and is dropped on any 401 from the engine.
 */
import { api, attempt, desktopSession, toApiError, type ApiError, type RehostApi } from '../api/index.js';
import { readStored, writeStored } from './storage.js';

export type SessionPhase = 'starting' | 'signed-out' | 'must-change' | 'ready';

const TOKEN_KEY = 'rehost.token';

export class SessionState {
  phase = $state<SessionPhase>('starting');
  /** The user who signed in here (empty for a restored or desktop session until known). */
  username = $state('');
  /** Set when the engine ended the session (shown on the sign-in screen). */
  expired = $state(false);
  readonly #api: RehostApi;

  constructor(rehostApi: RehostApi) {
    this.#api = rehostApi;
    rehostApi.client.onAuthError = (error) => this.#onAuthError(error);
  }

  /** Restores a session: the desktop shell's token first, then one kept in this tab. */
  async init(): Promise<void> {
    const desktop = await desktopSession();
    if (desktop) this.#api.client.base = desktop.apiBase;
    const token = desktop?.token ?? readStored('session', TOKEN_KEY);
    if (!token) {
      this.phase = 'signed-out';
      return;
    }
    this.#setToken(token);
    // A cheap authenticated call tells whether the token still works and whether the password
    // must be changed first (403 PASSWORD_CHANGE_REQUIRED, handled by #onAuthError).
    const error = await attempt(this.#api.listJobs({ page: 1, page_size: 1 }));
    if (error === null) this.phase = 'ready';
    else if (this.phase === 'starting') this.phase = error.code === 'NETWORK' ? 'ready' : 'signed-out';
  }

  async signIn(username: string, password: string): Promise<ApiError | null> {
    try {
      const reply = await this.#api.login({ username, password });
      this.#setToken(reply.token);
      this.username = username;
      this.expired = false;
      this.phase = reply.is_first_login ? 'must-change' : 'ready';
      return null;
    } catch (err) {
      return toApiError(err);
    }
  }

  async changePassword(oldPassword: string, newPassword: string, checkPassword: string): Promise<ApiError | null> {
    const error = await attempt(this.#api.changePassword({ old_password: oldPassword, new_password: newPassword, check_password: checkPassword }));
    if (error === null) this.phase = 'ready';
    return error;
  }

  /** Forgets the token (the API has no call to revoke it; it expires after 24 h). */
  signOut(): void {
    this.#setToken(null);
    this.expired = false;
    this.phase = 'signed-out';
  }

  #setToken(token: string | null): void {
    this.#api.client.token = token;
    writeStored('session', TOKEN_KEY, token);
  }

  #onAuthError(error: ApiError): void {
    if (error.code === 'PASSWORD_CHANGE_REQUIRED') {
      this.phase = 'must-change';
      return;
    }
    if (this.phase === 'signed-out') return;
    this.#setToken(null);
    this.expired = this.phase !== 'starting';
    this.phase = 'signed-out';
  }
}

export const session = new SessionState(api);
