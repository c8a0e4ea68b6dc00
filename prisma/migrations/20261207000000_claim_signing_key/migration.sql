-- The key that signs the tenant claims of the runs Trellis starts (see
-- src/services/claim-signing.ts). One row, created by whichever process needs it first; the API
-- signs with it and workers verify with it. Tenants never see it, and it never enters a
-- workflow history.
CREATE TABLE "claim_signing_keys" (
    "id" INTEGER NOT NULL,
    "key" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "claim_signing_keys_pkey" PRIMARY KEY ("id")
);
