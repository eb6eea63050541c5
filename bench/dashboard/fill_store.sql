-- Fills a Triage request store (schema v3, created by `triage serve`) with synthetic traffic for
-- the dashboard benchmark. Parameters come from the temp table `bench_params(n, end_ms, days)`,
-- created by bench/dashboard/run.sh before this file is read. Deterministic: row i is a function
-- of i only. Shape: three models (small 60%, medium 30%, large 10%), a cascade route `support`
-- (70%; 80% stop at step 0, 15% at 1, 5% at 2), a classify route `auto` (20%) with confidences,
-- direct calls (10%), ~1.3% upstream errors and ~0.3% timeouts, spans of ~600 bytes, 1% in the
-- review queue, a label on a fifth of those.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
BEGIN;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < (SELECT n FROM bench_params)),
rows AS (
  SELECT i,
    (SELECT end_ms FROM bench_params) - ((SELECT n FROM bench_params) - i) *
        ((SELECT days FROM bench_params) * 86400000 / (SELECT n FROM bench_params)) AS ts_ms,
    CASE WHEN i % 10 < 6 THEN 'small-model' WHEN i % 10 < 9 THEN 'medium-model' ELSE 'large-model' END AS model,
    CASE WHEN i % 10 < 6 THEN 'small' WHEN i % 10 < 9 THEN 'medium' ELSE 'large' END AS tier,
    CASE WHEN i % 10 < 7 THEN 'support' WHEN i % 10 < 9 THEN 'auto' ELSE NULL END AS route,
    CASE i % 5 WHEN 0 THEN 'billing' WHEN 1 THEN 'coding' WHEN 2 THEN 'faq' WHEN 3 THEN 'math' ELSE 'chitchat' END AS category,
    CASE WHEN i % 4 = 0 THEN 'canary' ELSE 'stable' END AS cohort,
    200 + (i * 7919) % 1500 AS tokens_in,
    50 + (i * 104729) % 400 AS tokens_out,
    50 + i % 200 AS routing_us,
    CASE WHEN i % 13 = 0 THEN 5000 ELSE 0 END AS queue_us,
    150000 + (i * 2654435761) % 1500000 AS upstream_us,
    CASE WHEN i % 331 = 0 THEN 504 WHEN i % 97 = 0 THEN 502 ELSE 200 END AS status,
    CASE WHEN (i / 10) % 20 < 16 THEN 0 WHEN (i / 10) % 20 < 19 THEN 1 ELSE 2 END AS step
  FROM seq
)
INSERT INTO requests (request_id, ts_ms, api_key_id, cohort, category, user_id, requested_model,
  route, model, tier, provider, stream, tokens_in, tokens_out, tokens_estimated, cost_usd,
  routing_us, queue_us, upstream_ttfb_us, upstream_us, overhead_us, total_us, status, error_code,
  error_message, finish_reason, synthesized, label, confidence, flags, spans)
SELECT printf('req_%012d', i), ts_ms, 'key_0123456789ab', cohort, category, NULL,
  COALESCE(route, model), route, model, tier, 'openai', i % 3 = 0, tokens_in, tokens_out, 0,
  CASE WHEN status >= 500 THEN 0 ELSE
    (tokens_in * CASE tier WHEN 'small' THEN 0.15 WHEN 'medium' THEN 1.0 ELSE 5.0 END +
     tokens_out * CASE tier WHEN 'small' THEN 0.6 WHEN 'medium' THEN 4.0 ELSE 15.0 END) / 1e6 END,
  routing_us, queue_us, upstream_us / 4, upstream_us, 120 + i % 50,
  routing_us + queue_us + upstream_us + 120 + i % 50, status,
  CASE status WHEN 504 THEN 'upstream_timeout' WHEN 502 THEN 'upstream_error' ELSE NULL END,
  CASE status WHEN 504 THEN 'deadline exceeded' WHEN 502 THEN 'upstream answered 500' ELSE NULL END,
  CASE WHEN status = 200 THEN 'stop' ELSE NULL END, 0,
  CASE WHEN route = 'auto' THEN CASE WHEN i % 3 = 0 THEN 'hard' ELSE 'simple' END ELSE NULL END,
  CASE WHEN route = 'auto' THEN ((i * 37) % 1000) / 1000.0 ELSE NULL END,
  CASE WHEN route = 'support' AND step > 0 THEN '["cascaded"]'
       WHEN route = 'auto' AND (i * 37) % 1000 BETWEEN 500 AND 650 THEN '["flag_band"]' ELSE '[]' END,
  CASE WHEN route = 'support' THEN printf(
    '[{"kind":"model_call","name":"%s","detail":"openai/1","tier":"%s","start_us":60,"duration_us":%d,"queue_us":0,"ttfb_us":%d,"tokens_in":%d,"tokens_out":%d,"tokens_estimated":false,"cost_usd":0.0001,"ok":true,"error":""},{"kind":"check","name":"len","detail":"rules/1","tier":"","start_us":%d,"duration_us":12,"queue_us":0,"ttfb_us":0,"tokens_in":0,"tokens_out":0,"tokens_estimated":false,"cost_usd":0,"ok":true,"error":""},{"kind":"route","name":"support","detail":"cascade/1: %saccepted","tier":"","start_us":0,"duration_us":%d,"queue_us":0,"ttfb_us":0,"tokens_in":0,"tokens_out":0,"tokens_estimated":false,"cost_usd":0,"ok":true,"error":"","cascade":{"step":%d,"route":"%s","outcome":"accepted"}}]',
    model, tier, upstream_us, upstream_us / 4, tokens_in, tokens_out, upstream_us + 60,
    CASE step WHEN 0 THEN 'step 0 ''small'' ' WHEN 1 THEN 'step 0 ''small'' rejected (len/1: short); step 1 ''medium'' '
      ELSE 'step 0 ''small'' rejected (len/1: short); step 1 ''medium'' rejected (len/1: short); step 2 ''large'' ' END,
    upstream_us + 100, step, CASE step WHEN 0 THEN 'small' WHEN 1 THEN 'medium' ELSE 'large' END)
  ELSE printf(
    '[{"kind":"route","name":"%s","detail":"classify/1","tier":"","start_us":0,"duration_us":%d,"queue_us":0,"ttfb_us":0,"tokens_in":0,"tokens_out":0,"tokens_estimated":false,"cost_usd":0,"ok":true,"error":""},{"kind":"model_call","name":"%s","detail":"openai/1","tier":"%s","start_us":%d,"duration_us":%d,"queue_us":0,"ttfb_us":%d,"tokens_in":%d,"tokens_out":%d,"tokens_estimated":false,"cost_usd":0.0001,"ok":true,"error":""}]',
    COALESCE(route, model), routing_us, model, tier, routing_us, upstream_us, upstream_us / 4, tokens_in, tokens_out)
  END
FROM rows;
INSERT INTO review_queue (request_id, ts_ms, status, enqueued_ms, updated_ms)
  SELECT request_id, ts_ms, CASE WHEN rowid % 500 = 0 THEN 'labeled' ELSE 'open' END, ts_ms, ts_ms
  FROM requests WHERE rowid % 100 = 0;
INSERT INTO review_reasons (reason, ts_ms, request_id)
  SELECT CASE WHEN rowid % 300 = 0 THEN 'sample_large' WHEN route = 'support' THEN 'cascaded' ELSE 'flag_band' END, ts_ms, request_id
  FROM requests WHERE rowid % 100 = 0;
INSERT INTO labels (request_id, ts_ms, verdict, sufficient_tier, corrected_answer, reviewer)
  SELECT request_id, ts_ms, CASE WHEN rowid % 1500 = 0 THEN 'incorrect' ELSE 'correct' END,
    CASE rowid % 3 WHEN 0 THEN 'small' WHEN 1 THEN 'medium' ELSE 'large' END, NULL, 'bench'
  FROM requests WHERE rowid % 500 = 0;
-- The rollups the store's writer maintains (same definitions as the v2->v3 backfill).
DELETE FROM rollup_minute;
DELETE FROM rollup_hour;
DELETE FROM rollup_model_minute;
INSERT INTO rollup_minute
  SELECT ts_ms / 60000, COALESCE(model, ''), COALESCE(tier, ''), COALESCE(route, ''),
         COALESCE(category, ''), COALESCE(cohort, ''), COUNT(*),
         TOTAL(status BETWEEN 400 AND 499), TOTAL(status >= 500),
         TOTAL(error_code IS 'upstream_timeout'), TOTAL(cost_usd), TOTAL(tokens_in),
         TOTAL(tokens_out), TOTAL(upstream_us), TOTAL(total_us)
  FROM requests GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO rollup_hour
  SELECT ts_ms / 3600000 * 60, COALESCE(model, ''), COALESCE(tier, ''), COALESCE(route, ''),
         COALESCE(category, ''), COALESCE(cohort, ''), COUNT(*),
         TOTAL(status BETWEEN 400 AND 499), TOTAL(status >= 500),
         TOTAL(error_code IS 'upstream_timeout'), TOTAL(cost_usd), TOTAL(tokens_in),
         TOTAL(tokens_out), TOTAL(upstream_us), TOTAL(total_us)
  FROM requests GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO rollup_model_minute
  SELECT ts_ms / 60000, COALESCE(model, ''), '', '', '', '', COUNT(*),
         TOTAL(status BETWEEN 400 AND 499), TOTAL(status >= 500),
         TOTAL(error_code IS 'upstream_timeout'), TOTAL(cost_usd), TOTAL(tokens_in),
         TOTAL(tokens_out), TOTAL(upstream_us), TOTAL(total_us)
  FROM requests GROUP BY 1, 2, 3, 4, 5, 6;
COMMIT;
ANALYZE;
