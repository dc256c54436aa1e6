#!/usr/bin/env python3
"""Writes a few hours of realistic AMS traffic as newline-delimited SQS bodies, built from the
fixtures: SNS envelopes and bare records mixed, redeliveries (duplicates), click-invalidation
corrections (negative deltas with new idempotency ids), conversions arriving later, budget
notifications, campaign versions out of order, and one unreadable body.

Usage: demo_traffic.py FIXTURES_DIR > traffic.ndjson   (prints the expected totals on stderr)
"""
import json, random, sys, uuid
from decimal import Decimal

fixtures = sys.argv[1]
rng = random.Random(20240501)
load = lambda name: json.load(open(f"{fixtures}/{name}.json"))
traffic_t, conv_t, budget_t, campaign_t = load("sp-traffic"), load("sp-conversion"), load("budget-usage"), load("campaigns")
dsp_t = load("adsp-traffic")
bodies = []

def emit(record):
    text = json.dumps(record, separators=(",", ":"))
    if rng.random() < 0.5:
        text = json.dumps({"Type": "Notification", "MessageId": str(uuid.uuid4()),
                           "TopicArn": f"arn:aws:sns:us-east-1:906013806264:FEADMessageDeliveryTopic-{record['dataset_id']}-ATVPDKIKX0DER-ENTITY2EXAMPLEABCD1",
                           "Message": text, "Timestamp": "2024-05-01T18:04:12.345Z"})
    bodies.append(text)
    if rng.random() < 0.1:  # SQS at-least-once: the same body again
        bodies.append(text)

campaigns = {"283947561029384": "SP - Earbuds - Exact", "283947561029385": "SP - Earbuds - Auto"}
keywords = [("473829105738291", "wireless earbuds", "EXACT"), ("473829105738292", "bluetooth earbuds", "PHRASE"),
            ("473829105738293", "earbuds noise cancelling", "BROAD")]
placements = ["Top of Search on-Amazon", "Detail Page on-Amazon"]
cost_total = Decimal(0); sales_total = Decimal(0)
for hour in range(8, 14):
    tws = f"2024-05-01T{hour:02d}:00:00-07:00"
    for cid in campaigns:
        for kid, text, match in keywords:
            for placement in placements:
                clicks = rng.randint(0, 12)
                cost = (Decimal(rng.randint(40, 180)) / 100 * clicks).quantize(Decimal("0.01"))
                rec = dict(traffic_t, idempotency_id=str(uuid.uuid4()), campaign_id=cid, keyword_id=kid,
                           keyword_text=text, match_type=match, placement=placement, time_window_start=tws,
                           clicks=clicks, impressions=clicks * rng.randint(30, 120), cost=float(cost))
                emit(rec); cost_total += cost
                if clicks and rng.random() < 0.15:  # invalid clicks taken back later
                    back = (cost / clicks).quantize(Decimal("0.01"))
                    emit(dict(rec, idempotency_id=str(uuid.uuid4()), clicks=-1, impressions=0, cost=float(-back)))
                    cost_total -= back
                orders = sum(rng.random() < 0.12 for _ in range(clicks))
                if orders:
                    sales = Decimal("29.99") * orders
                    conv = dict(conv_t, idempotency_id=str(uuid.uuid4()), campaign_id=cid, keyword_id=kid,
                                placement=placement, time_window_start=tws)
                    for k in list(conv):
                        if k.startswith("attributed_conversions") or k.startswith("attributed_units"):
                            conv[k] = orders
                        elif k.startswith("attributed_sales"):
                            conv[k] = float(sales)
                    emit(conv); sales_total += sales
    for cid in campaigns:
        emit(dict(budget_t, budget_scope_id=cid, budget_usage_percentage=min(100.0, 10.0 * (hour - 7)),
                  usage_updated_timestamp=f"2024-05-01T{hour + 7:02d}:30:00Z"))
# Amazon DSP: two line items of one order, hour by hour, with an invalid-traffic correction.
dsp_cost_total = Decimal(0)
for hour in range(8, 14):
    for line_item in ["5827364019283746", "5827364019283747"]:
        impressions = rng.randint(2000, 9000)
        cost = (Decimal(impressions) * Decimal(rng.randint(800, 1600)) / 100000).quantize(Decimal("0.01"))
        rec = dict(dsp_t, idempotency_id=str(uuid.uuid4()), adgroup_id=line_item,
                   time_window_start=f"2024-05-01T{hour:02d}:00:00-07:00", impressions=impressions,
                   gross_impressions=impressions + 40, clicks=rng.randint(0, 30), total_cost=float(cost),
                   supply_cost=float((cost * Decimal("0.8")).quantize(Decimal("0.01"))))
        emit(rec); dsp_cost_total += cost
        if rng.random() < 0.2:
            back = (cost / 10).quantize(Decimal("0.01"))
            emit(dict(rec, idempotency_id=str(uuid.uuid4()), impressions=-impressions // 10, gross_impressions=0,
                      clicks=0, total_cost=float(-back), supply_cost=0.0, agency_fee=0.0,
                      amazon_dsp_audience_fee=0.0, amazon_dsp_console_fee=0.0))
            dsp_cost_total -= back
# Campaign versions arrive out of order: version 9 (PAUSED) is the truth.
for version, state in [(9, "PAUSED"), (7, "ENABLED"), (8, "ENABLED")]:
    emit(dict(campaign_t, version=version, state=state))
bodies.append('{"dataset_id": "sp-traffic", "this body": "is missing every key field"}')
rng.shuffle(bodies)
print("\n".join(bodies))
print(f"generated {len(bodies)} bodies; expected sp-traffic cost {cost_total}, sp-conversion 14d sales {sales_total}, "
      f"adsp-traffic total cost {dsp_cost_total}", file=sys.stderr)
