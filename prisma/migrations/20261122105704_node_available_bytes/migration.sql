-- AlterTable
ALTER TABLE "StorageNode" ADD COLUMN     "availableBytes" BIGINT;
