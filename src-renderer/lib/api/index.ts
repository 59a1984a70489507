/** The renderer's only way to the engine: the REST client and the SSE stream. */
import { resolveApiBase } from './base.js';
import { ApiClient } from './client.js';
import { RehostApi } from './rehost-api.js';

export { ApiError, attempt, parseErrorBody, toApiError, type ClientErrorCode } from './errors.js';
export { ApiClient, queryString, type FetchLike } from './client.js';
export { RehostApi } from './rehost-api.js';
export { EventStream, backoffDelay, parseEvent, type EngineEvent, type EventType, type StreamStatus } from './events.js';
export { desktopSession, normalizeApiBase, resolveApiBase } from './base.js';
export type * from './types.js';

/** The one API instance of the page. */
export const api = new RehostApi(new ApiClient({ base: resolveApiBase() }));
