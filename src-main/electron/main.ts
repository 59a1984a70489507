/**
 * Electron main process: the desktop face. It starts the engine in-process on loopback, opens a
 * sandboxed window on the served UI and hands the renderer only the API base and a session
 * token through the preload. Kept thin: everything else is the engine and the REST API.
 */
import { app, BrowserWindow, Menu, Tray, ipcMain, nativeImage, session, shell } from 'electron';
import { join } from 'node:path';
import { DEFAULT_LISTEN, defaultDataDir, startServer, type RunningServer } from '../runtime.js';
import { V8_FLAGS } from '../v8-flags.js';

let server: RunningServer | null = null;
let window: BrowserWindow | null = null;
let tray: Tray | null = null;

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Packaged: `resources/icon.png` (electron-builder extraResources); from the repo: resources/icons. */
function iconPath(): string {
  return app.isPackaged ? join(process.resourcesPath, 'icon.png') : join(import.meta.dirname, '..', '..', 'resources', 'icons', 'icon.png');
}

async function start(): Promise<void> {
  const dataDir = process.env.REHOST_DATA_DIR ?? defaultDataDir();
  const rendererDir = join(import.meta.dirname, '..', 'renderer');
  try {
    server = await startServer({ listen: process.env.REHOST_LISTEN ?? DEFAULT_LISTEN, dataDir, rendererDir });
  } catch {
    // Port 18088 taken (a `rehost serve` already runs): fall back to a free loopback port.
    server = await startServer({ listen: '127.0.0.1:0', dataDir, rendererDir });
  }
  const local = await server.engine.auth.issueLocalToken();
  const apiBase = server.url;
  // Handed over IPC on request, not on the command line where other local users could read it.
  ipcMain.handle('rehost:session', (event) => (event.senderFrame?.url.startsWith(apiBase) ? { apiBase, token: local.token } : null));

  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  window = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 1024,
    minHeight: 700,
    title: 'Rehost',
    icon: iconPath(),
    webPreferences: {
      preload: join(import.meta.dirname, 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
    },
  });
  // Links to anything but the engine open in the system browser, never inside the app.
  window.webContents.setWindowOpenHandler(({ url }) => {
    void shell.openExternal(url);
    return { action: 'deny' };
  });
  window.webContents.on('will-navigate', (event, url) => {
    if (!url.startsWith(server!.url)) event.preventDefault();
  });
  await window.loadURL(`${server.url}/`);
  tray = new Tray(nativeImage.createFromPath(iconPath()).resize({ width: 16, height: 16 }));
  tray.setToolTip('Rehost');
  const refreshTray = () => {
    const running = server?.engine.core.store.jobs.listWorking().filter((j) => j.type === 'Sync').length ?? 0;
    tray?.setToolTip(running > 0 ? `Rehost: ${running} sync(s) running` : 'Rehost: idle');
    tray?.setContextMenu(Menu.buildFromTemplate([{ label: `${running} sync(s) running`, enabled: false }, { type: 'separator' }, { label: 'Quit', click: () => app.quit() }]));
  };
  server.engine.core.events.subscribe((e) => {
    if (e.type === 'job') refreshTray();
  });
  refreshTray();
}

// Before the app is ready, so the engine's heap starts with them.
app.commandLine.appendSwitch('js-flags', V8_FLAGS.join(' '));

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (window?.isMinimized()) window.restore();
    window?.focus();
  });
  app.whenReady().then(start, (err: unknown) => {
    process.stderr.write(`rehost: ${String(err)}\n`);
    app.exit(1);
  });
  let stopping = false;
  app.on('before-quit', (event) => {
    if (stopping || !server) return;
    // Stop running syncs at a checkpoint before the process goes away.
    event.preventDefault();
    stopping = true;
    void server.close().finally(() => app.quit());
  });
  app.on('window-all-closed', () => app.quit());
}
