/**
 * Which addon backs the native path right now, for code that calls the addon's functions on its own arrays
 * where tfjs would run the registered kernels (shared/model/nativeChain.ts). Kept apart from
 * nativeKernels.ts so that such code does not load the wasm backend by importing it.
 */
import { getBackend } from "@tensorflow/tfjs-core";
import type { NativeAddon } from "./nativeAddon.js";

let registered: NativeAddon | undefined;

/** Called by registerNativeKernels (the addon) and unregisterNativeKernels (undefined). */
export function setRegisteredAddon(addon: NativeAddon | undefined): void {
  registered = addon;
}

/** The addon while its kernels are registered and 'wasm' is the active backend (the native path); else null. */
export function activeNativeAddon(): NativeAddon | null {
  return registered !== undefined && getBackend() === "wasm" ? registered : null;
}
