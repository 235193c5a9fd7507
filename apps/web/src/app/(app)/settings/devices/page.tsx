"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react.tsx";
import { DevicesTable } from "@/components/account/devices-table.tsx";
import { Loading, QueryState } from "@/components/ui/feedback.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorMessage } from "@/components/ui/errors.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

export default function DevicesPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const devices = useQuery(trpc.session.devices.queryOptions());
  const revoke = useMutation(
    trpc.session.revokeDevice.mutationOptions({
      onSuccess: () => {
        toast({ title: "Device revoked", variant: "success" });
        void refreshQueries(qc, { queryKey: trpc.session.devices.queryKey() });
      },
      onError: (err) => toast({ title: "Could not revoke", description: errorMessage(err), variant: "error" }),
    }),
  );
  return (
    <section aria-labelledby="devices-heading" className="grid gap-3">
      <div>
        <h2 id="devices-heading" className="text-base font-semibold">
          Devices
        </h2>
        <p className="text-sm text-slate-500">
          Device tokens let the CLI and sync agents act for you. Revoke one you no longer use or have lost.
        </p>
      </div>
      <QueryState query={devices} loading={<Loading label="Loading devices…" />}>
        {(data) => (
          <DevicesTable
            devices={data}
            revoking={revoke.isPending ? (revoke.variables?.id ?? null) : null}
            onRevoke={(id) => revoke.mutate({ id })}
          />
        )}
      </QueryState>
    </section>
  );
}
