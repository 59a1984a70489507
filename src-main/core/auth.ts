/**
 * The single admin account (seed 000 §2.4.1: single-user mode), tokens valid 24 h, and the
 * lockout of seed 004: three wrong passwords in a row lock the account for five minutes.
 */
import { RehostError, errors } from '../../src-shared/errors.js';
import type { User } from './model.js';
import type { Clock, Logger, PasswordHasher, Store } from './ports.js';

export const ADMIN = 'admin';
export const TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
export const LOCK_AFTER_FAILURES = 3;
export const LOCK_MS = 5 * 60 * 1000;
/** Seed 004: "用户密码连续 3 次输入错误,帐户锁定 5 分钟". */
export const LOCKED_ERROR_CODE = 10440207;
export const MIN_PASSWORD_LENGTH = 8;

export interface AuthDeps {
  store: Store;
  hasher: PasswordHasher;
  clock: Clock;
  log: Logger;
}

export interface LoginResult {
  token: string;
  isFirstLogin: boolean;
  expiresAt: number;
}

export class AuthService {
  constructor(private readonly deps: AuthDeps) {}

  /**
   * Creates the admin account on first start. Returns the generated password when none was
   * given, so the caller can print it once; that password must be changed at first login.
   */
  async ensureAdmin(initialPassword: string | undefined): Promise<{ created: boolean; generated: string | null }> {
    const { store, hasher, clock } = this.deps;
    if (store.users.get(ADMIN)) return { created: false, generated: null };
    const generated = initialPassword ? null : hasher.randomToken(12);
    const password = initialPassword ?? generated!;
    store.users.put({
      username: ADMIN,
      passwordHash: await hasher.hash(password),
      mustChangePassword: generated !== null,
      failedAttempts: 0,
      lockedUntil: null,
      updatedAt: clock.now(),
    });
    await store.persist();
    return { created: true, generated };
  }

  async login(username: string, password: string): Promise<LoginResult> {
    const { store, hasher, clock } = this.deps;
    const now = clock.now();
    const user = store.users.get(username);
    if (!user) {
      // Same answer as a wrong password: do not tell which user names exist.
      throw new RehostError('WRONG_PASSWORD', 'wrong user name or password', { field: 'password', numericCode: 10440202 });
    }
    if (user.lockedUntil !== null && user.lockedUntil > now) {
      throw lockedError(user.lockedUntil - now);
    }
    if (!(await hasher.verify(password, user.passwordHash))) {
      const failures = (user.lockedUntil !== null ? 0 : user.failedAttempts) + 1;
      const locked = failures >= LOCK_AFTER_FAILURES;
      store.users.put({ ...user, failedAttempts: locked ? 0 : failures, lockedUntil: locked ? now + LOCK_MS : null, updatedAt: now });
      await store.persist();
      this.deps.log.warn({ username, failures }, locked ? 'account locked after wrong passwords' : 'wrong password');
      if (locked) throw lockedError(LOCK_MS);
      throw new RehostError('WRONG_PASSWORD', `wrong user name or password (${LOCK_AFTER_FAILURES - failures} tries left before a 5-minute lock)`, {
        field: 'password',
        numericCode: 10440202,
      });
    }
    const token = hasher.randomToken(32);
    const expiresAt = now + TOKEN_TTL_MS;
    store.users.put({ ...user, failedAttempts: 0, lockedUntil: null, updatedAt: now });
    store.sessions.deleteExpired(now);
    store.sessions.put({ tokenHash: hasher.digest(token), username, expiresAt, local: false });
    await store.persist();
    return { token, isFirstLogin: user.mustChangePassword, expiresAt };
  }

  /**
   * A session for the desktop shell, whose user is the local account that started the app:
   * Electron's main process hands it to the renderer through the preload, never over the network.
   */
  async issueLocalToken(): Promise<LoginResult> {
    const { store, hasher, clock } = this.deps;
    const user = store.users.get(ADMIN);
    if (!user) throw new RehostError('UNAUTHORIZED', 'no admin account yet');
    const token = hasher.randomToken(32);
    const expiresAt = clock.now() + TOKEN_TTL_MS;
    store.sessions.put({ tokenHash: hasher.digest(token), username: ADMIN, expiresAt, local: true });
    await store.persist();
    // The desktop user never saw a generated password, so there is nothing to change first.
    return { token, isFirstLogin: false, expiresAt };
  }

  /** The user a token belongs to, or a 401. */
  authenticate(token: string | undefined): { username: string; mustChangePassword: boolean } {
    if (!token) throw new RehostError('UNAUTHORIZED', 'missing X-AUTH-TOKEN header; get a token from POST /hypermotion/v1/users/token', { field: 'X-AUTH-TOKEN' });
    const session = this.deps.store.sessions.get(this.deps.hasher.digest(token));
    if (!session || session.expiresAt <= this.deps.clock.now()) {
      throw new RehostError('UNAUTHORIZED', 'token is invalid or expired; sign in again', { field: 'X-AUTH-TOKEN' });
    }
    const user = this.deps.store.users.get(session.username);
    if (!user) throw new RehostError('UNAUTHORIZED', 'token is invalid or expired; sign in again', { field: 'X-AUTH-TOKEN' });
    return { username: user.username, mustChangePassword: user.mustChangePassword && !session.local };
  }

  async changePassword(username: string, oldPassword: string, newPassword: string, checkPassword: string): Promise<void> {
    const { store, hasher, clock } = this.deps;
    const user = store.users.get(username);
    if (!user) throw errors.notFound('user', username, 'username');
    if (newPassword !== checkPassword) throw errors.validation('check_password', 'does not match new_password');
    if (newPassword.length < MIN_PASSWORD_LENGTH) {
      throw errors.validation('new_password', `must be at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    if (newPassword === oldPassword) throw errors.validation('new_password', 'must differ from old_password');
    if (!(await hasher.verify(oldPassword, user.passwordHash))) {
      throw new RehostError('WRONG_PASSWORD', 'old_password is wrong', { field: 'old_password', numericCode: 10440202 });
    }
    const updated: User = { ...user, passwordHash: await hasher.hash(newPassword), mustChangePassword: false, updatedAt: clock.now() };
    store.users.put(updated);
    await store.persist();
  }
}

function lockedError(remainingMs: number): RehostError {
  const minutes = Math.max(1, Math.ceil(remainingMs / 60000));
  return new RehostError(
    'ACCOUNT_LOCKED',
    `account locked for 5 minutes after ${LOCK_AFTER_FAILURES} wrong passwords in a row; try again in ${minutes} minute(s)`,
    { field: 'password', numericCode: LOCKED_ERROR_CODE },
  );
}
