import { Cloud, HardDrive, Database } from "lucide-react";
import { getHealth } from "@cumulus/control/cluster/health";
import { ctx } from "@/server/context.ts";

export const dynamic = "force-dynamic";

export default async function Home() {
  const { health } = await getHealth(ctx());
  const nodes = await ctx()
    .prisma.storageNode.findMany({ include: { site: true }, orderBy: { name: "asc" } })
    .catch(() => []);
  return (
    <main className="mx-auto max-w-4xl px-6 py-12">
      <header className="mb-10 flex items-center gap-3">
        <Cloud className="h-9 w-9 text-sky-600" aria-hidden />
        <h1 className="text-3xl font-semibold tracking-tight">Cumulus</h1>
      </header>
      <section aria-label="Cluster status" className="grid gap-4 sm:grid-cols-2">
        <div className="rounded-xl border border-slate-200 bg-white p-5 shadow-sm">
          <div className="flex items-center gap-2 text-sm text-slate-500">
            <Database className="h-4 w-4" aria-hidden /> Database
          </div>
          <p className="mt-2 text-2xl font-semibold" data-testid="database-status">
            {health.database}
          </p>
        </div>
        <div className="rounded-xl border border-slate-200 bg-white p-5 shadow-sm">
          <div className="flex items-center gap-2 text-sm text-slate-500">
            <HardDrive className="h-4 w-4" aria-hidden /> Storage nodes
          </div>
          <p className="mt-2 text-2xl font-semibold" data-testid="nodes-status">
            {health.nodes.active} of {health.nodes.total} active
          </p>
        </div>
      </section>
      <table className="mt-8 w-full overflow-hidden rounded-xl border border-slate-200 bg-white text-left text-sm shadow-sm">
        <caption className="sr-only">Storage nodes</caption>
        <thead className="bg-slate-100 text-slate-600">
          <tr>
            <th className="px-4 py-2 font-medium">Node</th>
            <th className="px-4 py-2 font-medium">Site</th>
            <th className="px-4 py-2 font-medium">Status</th>
            <th className="px-4 py-2 font-medium">Last heartbeat</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.id} className="border-t border-slate-100">
              <td className="px-4 py-2 font-medium">{n.name}</td>
              <td className="px-4 py-2">{n.site.name}</td>
              <td className="px-4 py-2">
                <span
                  className={
                    n.status === "active"
                      ? "rounded-full bg-emerald-50 px-2 py-0.5 text-emerald-700"
                      : "rounded-full bg-rose-50 px-2 py-0.5 text-rose-700"
                  }
                >
                  {n.status}
                </span>
              </td>
              <td className="px-4 py-2 text-slate-500">{n.lastHeartbeatAt.toISOString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}
