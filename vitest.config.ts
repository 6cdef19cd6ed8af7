import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: integration tests start several processes each, so files run one or two at a time.
    maxWorkers: 2,
    globalSetup: ["test/globalSetup.ts"],
  },
});
