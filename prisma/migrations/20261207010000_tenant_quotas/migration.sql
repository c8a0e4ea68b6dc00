-- A tenant's own quota limits (src/domain/quotas.ts). No row: the deployment's limit
-- (TRELLIS_QUOTA_<quota>, else the default). A limit only refuses new things: lowering it below
-- what a tenant already holds deletes nothing.
CREATE TABLE "tenant_quotas" (
    "tenant_id" UUID NOT NULL,
    "quota" TEXT NOT NULL,
    "limit" BIGINT NOT NULL,

    CONSTRAINT "tenant_quotas_pkey" PRIMARY KEY ("tenant_id","quota")
);

-- AddForeignKey
ALTER TABLE "tenant_quotas" ADD CONSTRAINT "tenant_quotas_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
