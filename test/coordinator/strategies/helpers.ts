import { expect } from "vitest";
import type { FitResult } from "../../../coordinator/strategies/strategy.js";

/** The test model: a [2,3] layer (6 values) and a [4] layer (4 values), given as 10 flat values. */
export function model(flat: readonly number[]): Float32Array[] {
  if (flat.length !== 10) throw new Error(`test model needs 10 values, got ${flat.length}`);
  return [Float32Array.from(flat.slice(0, 6)), Float32Array.from(flat.slice(6))];
}

/** A model with the same value everywhere. */
export function constant(value: number): Float32Array[] {
  return model(new Array<number>(10).fill(value));
}

export function fit(flat: readonly number[], numExamples: number): FitResult {
  return { weights: model(flat), numExamples };
}

export function flatten(layers: readonly Float32Array[]): number[] {
  return layers.flatMap((layer) => Array.from(layer));
}

/** Every value within tol·max(1, |expected|) of the expected one, and the [6, 4] layout kept. */
export function expectClose(actual: readonly Float32Array[], expected: readonly number[], tol = 1e-6): void {
  expect(actual.map((layer) => layer.length)).toEqual([6, 4]);
  const got = flatten(actual);
  got.forEach((x, i) => {
    const want = expected[i];
    if (!(Math.abs(x - want) <= tol * Math.max(1, Math.abs(want)))) {
      throw new Error(`value ${i}: got ${x}, expected ${want} (±${tol})`);
    }
  });
}

export function add(a: readonly number[], b: readonly number[], scale = 1): number[] {
  return a.map((x, i) => x + scale * b[i]);
}

/** Four clients for the coordinate-wise strategies: each coordinate holds the values in a different order. */
export const C1 = [1, 9, -3, 0, 5, 2, 7, 0.5, 100, -1];
export const C2 = [4, 2, -1, 0, 5, 8, -7, 0.25, 1, -2];
export const C3 = [2, 3, -2, 1, -5, 4, 0, 0.75, 50, -3];
export const C4 = [3, 0, 10, -1, 6, 1, 1, 1, 0, 0];
