// What the numbers were measured on: recorded with every result.
import { spawnSync } from "node:child_process";
import os from "node:os";

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  /** `df -hT` of the work directory: device, type, size, available. */
  disk: string;
  node: string;
  loadavg: string;
}

export function machineInfo(workDir: string): MachineInfo {
  const cpus = os.cpus();
  const df = spawnSync("df", ["-hT", workDir], { encoding: "utf8" });
  const dfLine = (df.stdout ?? "").trim().split("\n").at(-1)?.split(/\s+/) ?? [];
  // Filesystem Type Size Used Avail Use% Mounted
  const disk =
    dfLine.length >= 7
      ? `${dfLine[0]} (${dfLine[1]}) mounted on ${dfLine[6]}: ${dfLine[2]} total, ${dfLine[4]} free`
      : "unknown (df failed)";
  return {
    cpu: (cpus[0]?.model ?? "unknown").replace(/\s+/g, " ").trim(),
    cores: cpus.length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    disk,
    node: process.version,
    loadavg: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" "),
  };
}

/** True when the path is on tmpfs (RAM): disk numbers measured there would mean nothing. */
export function isTmpfs(p: string): boolean {
  const r = spawnSync("df", ["--output=fstype", p], { encoding: "utf8" });
  return /\b(tmpfs|ramfs)\b/.test(r.stdout ?? "");
}
