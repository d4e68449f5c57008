-- The database as ordermon 0.1.0 created it (schema version 1), frozen: migrations start here.
CREATE TABLE "orders" (
   "account" TEXT,
   "order_id" TEXT,
   "status" TEXT NOT NULL,
   "status_label" TEXT,
   "store" TEXT,
   "total" TEXT,
   "currency" TEXT,
   "order_date" TEXT,
   "payment_method" TEXT,
   "placed_at" TEXT,
   "paid_at" TEXT,
   "cancel_requested_at" TEXT,
   "shipped_at" TEXT,
   "closed_at" TEXT,
   "close_reason" TEXT,
   "cancel_reason" TEXT,
   "refund_status" TEXT,
   "refund_started_at" TEXT,
   "refunded_at" TEXT,
   "deadlines" TEXT,
   "first_seen" TEXT,
   "last_seen" TEXT,
   "detail_read_at" TEXT,
   PRIMARY KEY ("account", "order_id")
);
CREATE TABLE "history" (
   "id" INTEGER PRIMARY KEY,
   "account" TEXT,
   "order_id" TEXT,
   "observed_at" TEXT,
   "status_from" TEXT,
   "status_to" TEXT,
   "refund_from" TEXT,
   "refund_to" TEXT,
   "close_reason" TEXT,
   FOREIGN KEY ("account", "order_id") REFERENCES "orders"("account", "order_id")
);
CREATE INDEX "idx_history_account_order_id"
    ON "history" ("account", "order_id");
CREATE TABLE "polls" (
   "id" INTEGER PRIMARY KEY,
   "account" TEXT,
   "started" TEXT,
   "finished" TEXT,
   "site_now" TEXT,
   "orders_seen" INTEGER,
   "changes" INTEGER,
   "details_read" INTEGER,
   "alerts_created" INTEGER,
   "error" TEXT
);
CREATE TABLE "alerts" (
   "id" INTEGER PRIMARY KEY,
   "account" TEXT,
   "order_id" TEXT,
   "rule" TEXT,
   "deadline" TEXT,
   "message" TEXT,
   "next_step" TEXT,
   "created" TEXT,
   "site_now" TEXT
);
CREATE UNIQUE INDEX "idx_alerts_account_order_id_rule_deadline"
    ON "alerts" ("account", "order_id", "rule", "deadline");
CREATE TABLE "deliveries" (
   "alert_id" INTEGER REFERENCES "alerts"("id"),
   "target" TEXT,
   "label" TEXT,
   "state" TEXT DEFAULT 'pending',
   "attempts" INTEGER DEFAULT 0,
   "last_error" TEXT,
   "next_attempt" TEXT,
   "delivered" TEXT,
   PRIMARY KEY ("alert_id", "target")
);
PRAGMA user_version = 1;
