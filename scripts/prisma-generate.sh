#!/usr/bin/env bash
# `prisma generate` only needs the schema, yet the Prisma CLI insists on downloading its
# native schema engine first, which a mirror-only machine cannot reach. Pointing
# PRISMA_SCHEMA_ENGINE_BINARY at any executable skips that download; generation itself
# runs in WebAssembly. (Do not use this setting for `prisma migrate`: it would silently
# do nothing — migrations are produced by scripts/db-diff.ts instead.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PRISMA_SCHEMA_ENGINE_BINARY=/bin/true CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1 \
  npx prisma generate --schema prisma/schema.prisma >/dev/null
