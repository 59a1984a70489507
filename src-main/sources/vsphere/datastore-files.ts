/**
 * Datastore files over HTTPS (`/folder/<path>?dcPath=&dsName=`), read with Range requests and
 * the SOAP session cookie: how disk bytes leave vSphere without VDDK.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { VimClient } from './vim25/client.js';
import { withRetry } from '../../core/retry.js';
import { isNetworkError } from './vim25/retry.js';

export class DatastoreFiles {
  /** Bytes of disk data received from the datastore endpoint. */
  bytesRead = 0;

  constructor(
    private readonly client: VimClient,
    /** The datacenter's inventory path (its name for a top-level datacenter). */
    private readonly dcPath: string,
  ) {}

  url(datastore: string, path: string): string {
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    return `/folder/${encoded}?dcPath=${encodeURIComponent(this.dcPath)}&dsName=${encodeURIComponent(datastore)}`;
  }

  /**
   * Reads `length` bytes at `offset` of a datastore file. Past the file's end reads as zeros (a
   * thin flat extent may be shorter than the disk).
   */
  async read(datastore: string, path: string, offset: number, length: number, signal: AbortSignal): Promise<Buffer> {
    const out = Buffer.alloc(length);
    if (length === 0) return out;
    const body = await withRetry(() => this.get(datastore, path, offset, length, signal), { attempts: 4, delayMs: 500, retryable: isNetworkError, signal });
    body.copy(out, 0, 0, Math.min(length, body.length));
    this.bytesRead += body.length;
    return out;
  }

  private async get(datastore: string, path: string, offset: number, length: number, signal: AbortSignal): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const cookie = this.client.sessionCookie;
      const res = await this.client.transport.send({
        method: 'GET',
        path: this.url(datastore, path),
        headers: { Range: `bytes=${offset}-${offset + length - 1}`, ...(cookie ? { Cookie: cookie } : {}) },
        signal,
      });
      if (res.status === 206) return res.body;
      if (res.status === 416) return Buffer.alloc(0);
      if (res.status === 200) return res.body.subarray(offset, offset + length);
      if ((res.status === 401 || res.status === 403) && attempt === 0) {
        await this.client.relogin(signal);
        continue;
      }
      throw new RehostError('DRIVER', `reading [${datastore}] ${path} at ${offset}: HTTP ${res.status}`);
    }
  }
}
