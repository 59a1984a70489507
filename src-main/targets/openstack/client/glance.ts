/** Glance v2 (catalog type `image`): the image list (gateway images, the seed's image choices). */
import type { Keystone } from './keystone.js';
import { ServiceHttp } from './http.js';

export interface Image {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  size: number | null;
  disk_format: string | null;
  container_format: string | null;
  min_disk: number;
  min_ram: number;
  owner: string;
}

export class Glance {
  readonly http: ServiceHttp;

  constructor(keystone: Keystone) {
    this.http = new ServiceHttp('image', () => keystone.endpoint('image'), keystone);
  }

  /** Every image visible to the project, following Glance's `next` links (pages of 100). */
  async listImages(query: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<Image[]> {
    const images: Image[] = [];
    let path: string | null = '/v2/images';
    let q: Record<string, string | number | undefined> | undefined = { limit: 100, ...query };
    for (let page = 0; path !== null && page < 1000; page++) {
      const body: { images: Image[]; next?: string } = await this.http.request('GET', path, { query: q, signal });
      images.push(...body.images);
      // `next` is `/v2/images?marker=…` with the original filters already in it
      path = body.next ?? null;
      q = undefined;
    }
    return images;
  }

  async getImage(id: string, signal?: AbortSignal): Promise<Image> {
    return this.http.request<Image>('GET', `/v2/images/${encodeURIComponent(id)}`, { signal });
  }
}
