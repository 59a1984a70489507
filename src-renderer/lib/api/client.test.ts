import { describe, expect, it, vi } from 'vitest';
import { ApiClient, type FetchLike } from './client.js';
import { ApiError, parseErrorBody, toApiError } from './errors.js';

function reply(status: number, body: unknown): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('parseErrorBody', () => {
  it('reads the engine error body and drops the request-part prefix of the field', () => {
    const err = parseErrorBody(400, JSON.stringify({ code: 400, message: 'body.name must NOT have fewer than 1 characters', error: 'VALIDATION', field: 'body.name' }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.code).toBe('VALIDATION');
    expect(err.field).toBe('name');
    expect(err.isAbout('name')).toBe(true);
    expect(err.isAbout('path')).toBe(false);
    expect(err.message).toContain('fewer than 1');
    expect(err.i18nKey).toBe('error.validation');
  });

  it('keeps nested fields and seed-004 numeric codes', () => {
    const err = parseErrorBody(423, JSON.stringify({ code: 423, message: 'account locked', error: 'ACCOUNT_LOCKED', error_code: 10440207, field: 'password' }));
    expect(err.code).toBe('ACCOUNT_LOCKED');
    expect(err.numericCode).toBe(10440207);
    expect(parseErrorBody(400, JSON.stringify({ code: 400, message: 'x', error: 'VALIDATION', field: 'config.path' })).isAbout('config.path')).toBe(true);
  });

  it('derives the code from the status when the body has none or is not JSON', () => {
    expect(parseErrorBody(404, JSON.stringify({ code: 404, message: 'no route' })).code).toBe('NOT_FOUND');
    expect(parseErrorBody(409, JSON.stringify({ code: 409, message: 'busy', error: 'SOMETHING_NEW' })).code).toBe('CONFLICT');
    const html = parseErrorBody(502, '<html><body>Bad Gateway</body></html>');
    expect(html.code).toBe('DRIVER');
    expect(html.field).toBeNull();
    expect(parseErrorBody(500, '').code).toBe('INTERNAL');
    expect(parseErrorBody(418, '[1,2]').code).toBe('BAD_REQUEST');
    expect(parseErrorBody(599, 'null').code).toBe('INTERNAL');
  });

  it('turns anything thrown into an ApiError', () => {
    const err = toApiError(new TypeError('Failed to fetch'));
    expect(err.code).toBe('NETWORK');
    expect(err.i18nKey).toBe('error.network');
  });
});

describe('ApiClient', () => {
  it('sends the token and JSON body, and builds the query string from defined values', async () => {
    const fetch = vi.fn<FetchLike>(async () => reply(200, { ok: true }));
    const client = new ApiClient({ base: '/hypermotion/v1', fetch });
    client.token = 'tok';
    await client.request('POST', '/hosts', { body: { ids: ['a'] }, query: { page: 1, kw: undefined, status: 'sync' } });
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe('/hypermotion/v1/hosts?page=1&status=sync');
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>)['X-AUTH-TOKEN']).toBe('tok');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(init.body).toBe('{"ids":["a"]}');
  });

  it('throws the parsed ApiError and reports session problems only', async () => {
    const answers = [
      reply(401, { code: 401, message: 'wrong user name or password', error: 'WRONG_PASSWORD', field: 'password' }),
      reply(401, { code: 401, message: 'token is invalid or expired', error: 'UNAUTHORIZED', field: 'X-AUTH-TOKEN' }),
      reply(403, { code: 403, message: 'change the password first', error: 'PASSWORD_CHANGE_REQUIRED' }),
    ];
    const client = new ApiClient({ base: '', fetch: async () => answers.shift()! });
    const seen: string[] = [];
    client.onAuthError = (error) => seen.push(error.code);

    await expect(client.request('POST', '/users/token')).rejects.toMatchObject({ code: 'WRONG_PASSWORD', field: 'password' });
    await expect(client.request('GET', '/hosts')).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    await expect(client.request('GET', '/hosts')).rejects.toMatchObject({ code: 'PASSWORD_CHANGE_REQUIRED' });
    expect(seen).toEqual(['UNAUTHORIZED', 'PASSWORD_CHANGE_REQUIRED']);
  });

  it('reports an unreachable engine as NETWORK and a non-JSON success as INTERNAL', async () => {
    const down = new ApiClient({ base: '', fetch: async () => Promise.reject(new TypeError('Failed to fetch')) });
    await expect(down.request('GET', '/jobs')).rejects.toMatchObject({ code: 'NETWORK', status: 0 });
    const odd = new ApiClient({ base: '', fetch: async () => new Response('<html>', { status: 200 }) });
    await expect(odd.request('GET', '/jobs')).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
