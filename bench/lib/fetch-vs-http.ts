// `node bench/lib/fetch-vs-http.ts [MiB]`: CPU cost of moving 1 MiB bodies with global
// fetch (undici) versus node:http, 4 requests in flight, against a trivial node:http server
// in the same process (so the CPU includes the server, the same for every variant). An
// experiment behind the datapath analysis in docs/benchmarks.md, not a registered benchmark.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

const MiB = 1024 * 1024;
const N = Number(process.argv[2] ?? 256);
const data = randomBytes(MiB);

const srv = http.createServer((req, res) => {
  if (req.method === "PUT") {
    req.on("data", () => undefined);
    req.on("end", () => {
      res.writeHead(201, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
  } else {
    res.writeHead(200, { "content-length": MiB });
    res.end(data);
  }
});
await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/x`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

async function pool(fn: () => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (i++ < N) await fn();
    }),
  );
}

async function measure(name: string, fn: () => Promise<unknown>): Promise<void> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await pool(fn);
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const ms = performance.now() - t0;
  console.log(
    `${name.padEnd(26)} ${(ms / 1000).toFixed(2)} s wall, ${cpu.toFixed(2)} CPU-s for ${N} MiB = ${((cpu * 1024) / N).toFixed(1)} CPU-s/GiB`,
  );
}

const fetchPut = async () => {
  const r = await fetch(url, { method: "PUT", body: Buffer.from(data) });
  await r.json();
};
const httpPut = () =>
  new Promise((resolve, reject) => {
    const q = http.request(url, { method: "PUT", agent, headers: { "content-length": MiB } }, (r) => {
      let b = "";
      r.on("data", (d: Buffer) => (b += d.toString()));
      r.on("end", () => resolve(JSON.parse(b)));
    });
    q.on("error", reject);
    q.end(data);
  });
const fetchGet = async () => {
  const r = await fetch(url);
  const buf = new Uint8Array(MiB);
  let got = 0;
  const rd = r.body!.getReader();
  for (;;) {
    const { done, value } = await rd.read();
    if (done) break;
    buf.set(value, got);
    got += value.length;
  }
};
const httpGet = () =>
  new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (r) => {
        const buf = Buffer.allocUnsafe(MiB);
        let got = 0;
        r.on("data", (d: Buffer) => {
          d.copy(buf, got);
          got += d.length;
        });
        r.on("end", () => resolve(buf));
      })
      .on("error", reject);
  });

for (let round = 0; round < 2; round++) {
  await measure("fetch PUT (Buffer body)", fetchPut);
  await measure("http.request PUT", httpPut);
  await measure("fetch GET (reader + copy)", fetchGet);
  await measure("http.get GET (copy)", httpGet);
}
srv.close();
agent.destroy();
