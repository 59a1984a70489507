/**
 * The Image source driver: disk image files (raw, qcow2, vmdk, vhd …) as machines to migrate,
 * read through qemu-img. It needs no credentials.
 */
import type { DriverDeps, SourceDriver } from '../../core/drivers.js';
import { ImageSource, pathFromConfig } from './image-source.js';

/** The Image source keeps no secrets. */
export const secretFields: readonly string[] = [];

/** Builds an Image source for `config.path` (a folder of images or one image file). */
export function createImageSource(deps: DriverDeps, config: Record<string, unknown>): SourceDriver {
  return new ImageSource(deps, pathFromConfig(config));
}
