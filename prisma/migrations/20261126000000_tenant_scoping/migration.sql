-- Stored node outputs belong to a tenant: activities resolve a reference only for the run's own
-- tenant, so a reference copied into another tenant's definition finds nothing.
ALTER TABLE "output_blobs" ADD COLUMN "tenant_id" UUID;

UPDATE "output_blobs" AS b SET "tenant_id" = e."tenant_id" FROM "executions" AS e WHERE e."id" = b."execution_id";

-- CreateIndex
CREATE INDEX "output_blobs_tenant_id_id_idx" ON "output_blobs"("tenant_id", "id");

-- A tenant's own request budget per API key and minute; null takes the deployment's default.
ALTER TABLE "tenants" ADD COLUMN "rate_limit_per_minute" INTEGER;
