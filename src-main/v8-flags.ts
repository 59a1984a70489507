/**
 * V8 flags the engine and the agent run with. Both move disk data in large external buffers and
 * keep little on the JavaScript heap, yet a sync's allocation rate grows V8's default young
 * generation to its maximum (two 16 MiB semi-spaces), about 30 MB of RSS held for nothing. With
 * 4 MiB semi-spaces the bench measured the engine's peak RSS 223 → 181 MB and no slower a sync.
 * `bin/rehost.mjs` carries the same flag in its first line (a shebang cannot import this).
 */
export const V8_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
