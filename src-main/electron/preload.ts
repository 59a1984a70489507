/**
 * Preload (sandboxed, context-isolated): exposes only a way to get the API base and the session
 * token. The renderer talks to the engine through the REST API like any other client.
 */
import { contextBridge, ipcRenderer } from 'electron';

contextBridge.exposeInMainWorld(
  'rehost',
  Object.freeze({
    session: (): Promise<{ apiBase: string; token: string } | null> => ipcRenderer.invoke('rehost:session'),
  }),
);
