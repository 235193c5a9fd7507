// Builds the addon against the headers of the Node that runs this script. A user-level
// ~/.npmrc may set nodedir (here it points at /usr, i.e. an older system Node), so the
// node-gyp default cannot be trusted: an addon built for another Node ABI fails to load.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = dirname(here);
const nodeDir = dirname(dirname(process.execPath));

const fail = (line) => {
  console.error(`@cumulus/udt build: ${line}`);
  process.exit(1);
};

if (!existsSync(join(nodeDir, "include", "node", "node_api.h"))) {
  fail(`no Node headers under ${nodeDir}/include/node (needed to compile against ${process.version})`);
}
if (!existsSync("/usr/include/udt/udt.h")) {
  fail("UDT headers missing: install the Debian package libudt-dev (apt-get install libudt-dev)");
}

const require = createRequire(import.meta.url);
const gyp = require.resolve("node-gyp/bin/node-gyp.js");
const args = [gyp, "rebuild", `--nodedir=${nodeDir}`, ...process.argv.slice(2)];
const result = spawnSync(process.execPath, args, {
  cwd: pkgDir,
  stdio: "inherit",
  // binding.gyp shells out to `node`; make it the same Node.
  env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`, npm_config_nodedir: nodeDir },
});
if (result.error) fail(result.error.message);
process.exit(result.status ?? 1);
