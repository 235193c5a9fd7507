// One ESLint flat config for the whole repo. Type-aware rules are left out on purpose:
// `npm run typecheck` already runs the compiler, and linting stays fast on 2 cores.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/.next/**",
      "**/dist/**",
      "**/build/**",
      "**/out/**",
      "packages/db/src/generated/**",
      ".tools/**",
      ".data/**",
      "e2e/screenshots/**",
      "**/next-env.d.ts",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2024, sourceType: "module" },
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "no-console": "off",
    },
  },
  {
    files: ["apps/web/src/**/*.tsx", "apps/desktop/src/renderer/**"],
    languageOptions: { globals: { ...globals.browser } },
  },
);
