/**
 * A small vim25 SOAP client: envelopes written by hand, responses read with fast-xml-parser.
 * One session per client, kept in its cookie; a `NotAuthenticated` fault (an expired session)
 * logs in again once and repeats the call; `close()` logs out.
 */
import { RehostError } from '../../../../src-shared/errors.js';
import type { Logger } from '../../../core/ports.js';
import { faultFrom, VimFault } from './faults.js';
import { withRetry } from '../../../core/retry.js';
import { isNetworkError } from './retry.js';
import { PinnedTransport } from './transport.js';
import { moRef, moRefXml, type MoRef, type ServiceContent } from './types.js';
import { child, childText, esc, parseXml, type XmlNode } from './xml.js';

export interface VimEndpoint {
  host: string;
  port: number;
  username: string;
  password: string;
  /** The thumbprint to insist on; null trusts and pins the first one seen. */
  thumbprint: string | null;
}

/** The root object every session starts from. */
export const SERVICE_INSTANCE: MoRef = { type: 'ServiceInstance', value: 'ServiceInstance' };

/** Methods that only read: a dropped connection may be retried. */
const READ_ONLY = new Set(['RetrieveServiceContent', 'RetrievePropertiesEx', 'ContinueRetrievePropertiesEx', 'FindByUuid', 'QueryChangedDiskAreas', 'CurrentTime']);

export class VimClient {
  readonly transport: PinnedTransport;
  private content: ServiceContent | null = null;
  private cookie: string | null = null;
  private loggingIn: Promise<void> | null = null;
  /** Sessions opened (the first login and every re-login), for logs and tests. */
  logins = 0;

  constructor(
    private readonly endpoint: VimEndpoint,
    private readonly log: Logger,
  ) {
    this.transport = new PinnedTransport(endpoint.host, endpoint.port, endpoint.thumbprint);
  }

  /** The session cookie header value, for datastore HTTP reads. */
  get sessionCookie(): string | null {
    return this.cookie;
  }

  get serviceContent(): ServiceContent {
    if (this.content === null) throw new RehostError('DRIVER', 'vSphere client used before connect()');
    return this.content;
  }

  /** Reads the service content and logs in (once; later calls reuse the session). */
  async connect(signal: AbortSignal): Promise<ServiceContent> {
    if (this.content === null) this.content = await this.retrieveServiceContent(signal);
    if (this.cookie === null) await this.login(signal);
    return this.content;
  }

  /**
   * Calls `method` on `target` with `body` (already-escaped XML) and returns the response
   * element. Re-logs in once on NotAuthenticated.
   */
  async call(method: string, target: MoRef, body: string, signal: AbortSignal): Promise<XmlNode> {
    try {
      return await this.invoke(method, target, body, signal);
    } catch (err) {
      if (!VimFault.is(err, 'NotAuthenticated') || method === 'Login') throw err;
      this.log.info({ method }, 'vSphere session expired; logging in again');
      this.cookie = null;
      await this.login(signal);
      return this.invoke(method, target, body, signal);
    }
  }

  /** Logs in again after the session expired (used by the datastore reader on HTTP 401/403). */
  async relogin(signal: AbortSignal): Promise<void> {
    this.cookie = null;
    await this.login(signal);
  }

  /** Logs out (best effort) and closes the connections. */
  async close(): Promise<void> {
    if (this.cookie !== null && this.content !== null) {
      const signal = AbortSignal.timeout(5000);
      await this.invoke('Logout', this.content.sessionManager, '', signal).catch((err: unknown) => this.log.debug({ err: String(err) }, 'logout failed'));
    }
    this.cookie = null;
    this.transport.close();
  }

  private async login(signal: AbortSignal): Promise<void> {
    if (this.loggingIn === null) {
      this.loggingIn = (async () => {
        const { username, password } = this.endpoint;
        const body = `<userName>${esc(username)}</userName><password>${esc(password)}</password>`;
        try {
          await this.invoke('Login', this.serviceContent.sessionManager, body, signal);
        } catch (err) {
          if (VimFault.is(err, 'InvalidLogin')) {
            throw new RehostError('UNPROCESSABLE', `${this.endpoint.host} refused the user name or password for ${username} (InvalidLogin)`, { field: 'config.password' });
          }
          throw err;
        }
        if (this.cookie === null) throw new RehostError('DRIVER', `${this.endpoint.host} accepted the login but set no session cookie`);
        this.logins++;
      })().finally(() => (this.loggingIn = null));
    }
    await this.loggingIn;
  }

  private async retrieveServiceContent(signal: AbortSignal): Promise<ServiceContent> {
    const res = await this.invoke('RetrieveServiceContent', SERVICE_INSTANCE, '', signal);
    const rv = child(res, 'returnval');
    const ref = (name: string): MoRef => {
      const r = moRef(child(rv, name));
      if (r === null) throw new RehostError('DRIVER', `${this.endpoint.host}: the service content has no ${name}`);
      return r;
    };
    const about = child(rv, 'about');
    return {
      rootFolder: ref('rootFolder'),
      propertyCollector: ref('propertyCollector'),
      viewManager: ref('viewManager'),
      sessionManager: ref('sessionManager'),
      searchIndex: ref('searchIndex'),
      about: {
        fullName: childText(about, 'fullName'),
        apiType: childText(about, 'apiType'),
        apiVersion: childText(about, 'apiVersion'),
        instanceUuid: childText(about, 'instanceUuid'),
      },
    };
  }

  private async invoke(method: string, target: MoRef, body: string, signal: AbortSignal): Promise<XmlNode> {
    const envelope =
      '<?xml version="1.0" encoding="UTF-8"?>' +
      '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
      `<soapenv:Body><${method} xmlns="urn:vim25">${moRefXml('_this', target)}${body}</${method}></soapenv:Body></soapenv:Envelope>`;
    const headers: Record<string, string> = { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: `urn:vim25/${this.content?.about.apiVersion ?? '6.5'}` };
    if (this.cookie !== null) headers.Cookie = this.cookie;
    const send = () => this.transport.send({ method: 'POST', path: '/sdk', headers, body: envelope, signal });
    const res = READ_ONLY.has(method) ? await withRetry(send, { attempts: 3, delayMs: 500, retryable: isNetworkError, signal }) : await send();
    this.keepCookie(res.headers['set-cookie']);
    const doc = parseXml(res.body.toString('utf8'));
    const bodyNode = child(child(doc, 'Envelope'), 'Body');
    const fault = child(bodyNode, 'Fault');
    if (fault !== undefined && typeof fault === 'object') throw faultFrom(fault, method);
    if (res.status !== 200) throw new RehostError('DRIVER', `${this.endpoint.host}: ${method} answered HTTP ${res.status}`);
    const answer = child(bodyNode, `${method}Response`);
    return typeof answer === 'object' ? answer : {};
  }

  private keepCookie(setCookie: string | string[] | undefined): void {
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const pair = line.split(';')[0]!.trim();
      if (pair.startsWith('vmware_soap_session=')) this.cookie = pair;
    }
  }
}
