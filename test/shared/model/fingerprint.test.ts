import { describe, expect, it } from "vitest";
import { joinMismatch, modelFingerprint } from "../../../shared/model/fingerprint.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";

const classes = ["cat", "dog", "bird"];

describe("model fingerprint", () => {
  it("is equal for equal specs and differs when architecture, input, classes or knobs differ", () => {
    const base = resolveModelSpec("cnn", [28, 28, 1], classes);
    expect(modelFingerprint(base)).toBe(modelFingerprint(resolveModelSpec("cnn", [28, 28, 1], [...classes])));
    const others = [
      resolveModelSpec("large", [28, 28, 1], classes),
      resolveModelSpec("cnn", [32, 32, 1], classes),
      resolveModelSpec("cnn", [28, 28, 1], ["dog", "cat", "bird"]),
    ];
    for (const o of others) expect(modelFingerprint(o)).not.toBe(modelFingerprint(base));
    const s = resolveModelSpec("fusion-s", [28, 28, 1], classes);
    expect(modelFingerprint(s)).not.toBe(modelFingerprint(resolveModelSpec("fusion-s", [28, 28, 1], classes, { layers: 3 })));
  });

  it("explains why a client cannot join, and lets a client with fewer classes in", () => {
    const fed = resolveModelSpec("cnn", [28, 28, 1], classes);
    expect(joinMismatch(fed, { ...fed, architecture: "large" })).toBe("model 'large' does not match the federation's model 'cnn'");
    expect(joinMismatch(fed, { ...fed, inputShape: [32, 32, 3] })).toBe("input shape 32x32x3 does not match the federation's 28x28x1");
    expect(joinMismatch(fed, { ...fed, classNames: ["cat", "fish"] })).toBe("classes [fish] are not in the federation's class list [cat, dog, bird]");
    expect(joinMismatch(fed, { ...fed, classNames: ["dog"] })).toBeNull();
    // A client that leaves architecture and shape empty takes the federation's.
    expect(joinMismatch(fed, { architecture: "", inputShape: [] as unknown as [number, number, number], classNames: ["cat"] })).toBeNull();
  });

  it("rejects unknown models and bad shapes with one-line errors", () => {
    expect(() => resolveModelSpec("resnet", [28, 28, 1], classes)).toThrow("unknown model 'resnet': expected one of cnn, large, fusion, fusion-s, fusion-m, fusion-l");
    expect(() => resolveModelSpec("cnn", [28, 28, 2], classes)).toThrow(/unsupported input shape 28x28x2/);
    expect(() => resolveModelSpec("fusion-s", [28, 28, 1], classes, { heads: 5 })).toThrow(/divisible by heads 5/);
  });
});
