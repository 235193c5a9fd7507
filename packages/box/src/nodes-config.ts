import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "./atomic-file.ts";

export const ZBoxNode = z.object({
  name: z.string(),
  site: z.string(),
  port: z.number().int(),
  dataDir: z.string(),
  /** Set with `npm run node -- add --capacity SIZE`; otherwise the box-wide default. */
  capacityBytes: z.number().int().positive().optional(),
});
export type BoxNode = z.infer<typeof ZBoxNode>;

const ZNodesFile = z.object({ nodes: z.array(ZBoxNode) });

/** The storage nodes of this box, kept so that `npm run node -- start NAME` can restart one. */
export async function loadNodes(dataDir: string): Promise<BoxNode[] | null> {
  try {
    return ZNodesFile.parse(JSON.parse(await readFile(path.join(dataDir, "nodes.json"), "utf8"))).nodes;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`${path.join(dataDir, "nodes.json")} is unreadable: ${(err as Error).message}`, { cause: err });
  }
}

export async function saveNodes(dataDir: string, nodes: BoxNode[]): Promise<void> {
  await writeFileAtomic(path.join(dataDir, "nodes.json"), JSON.stringify({ nodes }, null, 2) + "\n");
}

/** The box's first layout: two nodes in site hq, one in site branch. */
export function defaultNodes(dataDir: string, basePort: number): BoxNode[] {
  const layout = [
    { name: "hq-1", site: "hq" },
    { name: "hq-2", site: "hq" },
    { name: "branch-1", site: "branch" },
  ];
  return layout.map((n, i) => ({ ...n, port: basePort + i, dataDir: path.join(dataDir, "nodes", n.name) }));
}

export function nextNodeName(nodes: BoxNode[], site: string): string {
  for (let i = 1; ; i++) {
    const name = `${site}-${i}`;
    if (!nodes.some((n) => n.name === name)) return name;
  }
}
