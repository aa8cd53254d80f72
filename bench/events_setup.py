#!/usr/bin/env python3
"""Bench data for the events benchmark of scripts/bench.sh.

  events_setup.py program DEMO.rules  > program.json   the demo program plus 50 campaigns
  events_setup.py program DEMO.rules --segments 20     ... plus 20 segments of the shapes
                                                       marketing writes (issue 19)
  events_setup.py program DEMO.rules --rules 1000      ... with campaigns of product promotions
                                                       up to 1,000 rules in all (issue 24)
  events_setup.py members             > members.sql    10,000 members with a card each
  events_setup.py bodies N            > bodies.txt     N purchase bodies over those members

The 50 campaigns have the shapes marketing writes: brand and category promotions (every tenth
one a whole category), basket thresholds, tier and weekday conditions, per-member daily limits
and (every fifth) a budget. As in a real program, a purchase meets a few of them, not all: with
these bodies 2 to 3 campaigns award points per event on average (the script prints the figure).

With --rules N, campaigns of ten product promotions each (a SKU bought, sometimes with a minimum
basket, a tier or a daily limit) bring the program to N rules. As in a retailer's catalogue
promotions, most are for products these baskets do not hold (SKUs 501 and up: seasonal lines,
other stores' ranges) and one in ten for a product they do: a purchase meets about one of them.
"""
import json
import re
import random
import sys

MEMBERS = 10_000
CATEGORIES = ["shoes", "bags", "coffee", "shirts", "jeans", "socks", "hats", "belts"]


SEGMENT_CONDITIONS = [
    'member.spend_30d >= 50.00',
    'member.affinity("category", "shoes") >= 0.3',
    'member.tier == "gold" and member.days_since_purchase > 60',
    'member.points >= 500',
    'member.purchases >= 5',
    'has(member.days_since_purchase) and member.days_since_purchase <= 7',
    'member.preferred_channel == "store"',
    'member.spend_365d >= 1000.00',
    'member.affinity("brand", "brand-3") >= 0.2',
    'member.tier in ["silver", "gold"]',
    'days_since(member.joined) < 30',
    'member.lifetime_points >= 2000',
    'member.affinity("category", "coffee") >= 0.5 and member.spend_90d >= 20.00',
    '"vip" in member.tags',
    'member.attributes.newsletter == true',
    'member.purchases == 0',
    'member.spend_90d >= 200.00 and member.preferred_channel == "web"',
    'member.affinity("category", "bags") > 0.1 or member.affinity("category", "belts") > 0.1',
    'member.points >= 100 and member.points < 300',
    'count(member.badges) >= 1',
]


def promotions(first, rules):
    """Campaigns of ten SKU promotions each, numbered from `first`, `rules` rules in all."""
    parts = []
    for c in range(0, rules, 10):
        body = []
        for n in range(c, min(c + 10, rules)):
            sku = 1 + (n * 37) % 500 if n % 10 == 0 else 501 + n
            condition = f'any(event.items, sku == "SKU-{sku}")'
            if n % 3 == 1:
                condition += f" and event.total >= {10 + n % 5 * 10}.00"
            elif n % 7 == 2:
                condition += ' and member.tier in ["silver", "gold"]'
            limit = "    limit 1 per member per day\n" if n % 4 == 0 else ""
            body.append(f'  rule "p{n + 1}" {{\n    on purchase\n    when {condition}\n'
                        f"    then award {5 + n % 6 * 5} points\n{limit}  }}")
        parts.append(f'campaign "promo-{first + c // 10:03d}" {{\n'
                     f'  name "Product promotions {first + c // 10}"\n' + "\n".join(body) + "\n}")
    return parts


def program(demo_path, segments=0, rules=0):
    source = open(demo_path, encoding="utf-8").read()
    # The demo's own segments out: builds before segments could not read them, and the bench
    # adds its own.
    source = re.sub(r'\nsegment "[^"]*" \{[^}]*\}\n', "\n", source)
    parts = [source.rstrip("\n")]
    for n in range(segments):
        condition = SEGMENT_CONDITIONS[n % len(SEGMENT_CONDITIONS)]
        parts.append(f'segment "bench-{n + 1:02d}" {{\n  name "Bench segment {n + 1}"\n'
                     f"  when {condition}\n}}")
    for n in range(1, 51):
        category = CATEGORIES[n % len(CATEGORIES)]
        threshold = 10 + (n % 9) * 10
        extra = ""
        if n % 3 == 0:
            extra = ' and member.tier in ["silver", "gold"]'
        elif n % 3 == 1:
            extra = " and weekday(event.time) in [mon, tue, wed, thu, fri, sat, sun]"
        budget = "  budget 1_000_000_000 points\n\n" if n % 5 == 0 else ""
        brand = f' and brand == "brand-{n % 20 + 1}"' if n % 10 else ""
        parts.append(
            f'campaign "bench-{n:02d}" {{\n'
            f'  name "Bench campaign {n}"\n'
            f"  priority {n % 4}\n"
            f"{budget}"
            f'  rule "r" {{\n'
            f"    on purchase\n"
            f'    when event.total >= {threshold}.00 and any(event.items, category == "{category}"{brand}){extra}\n'
            f"    then award floor(sum(event.items where category == \"{category}\", price * quantity) / 10) + 1 points\n"
            f"    limit 3 per member per day\n"
            f"  }}\n"
            f"}}"
        )
    existing = sum(len(re.findall(r"\n\s*rule \"", part)) for part in parts)
    if rules > existing:
        parts += promotions(1, rules - existing)
    print(json.dumps({"source": "\n\n".join(parts) + "\n"}))


def members():
    print("insert into members (id, joined_at) "
          f"select 'mem_ev_' || g, now() from generate_series(1, {MEMBERS}) g;")
    print("insert into member_identifiers (type, value, member_id, linked_at) "
          f"select 'card', '7' || lpad(g::text, 8, '0'), 'mem_ev_' || g, now() from generate_series(1, {MEMBERS}) g;")


def bodies(count):
    rng = random.Random(42)
    for i in range(count):
        items = []
        for _ in range(rng.randint(1, 4)):
            items.append({"sku": f"SKU-{rng.randint(1, 500)}",
                          "category": rng.choice(CATEGORIES),
                          "brand": f"brand-{rng.randint(1, 20)}",
                          "quantity": rng.randint(1, 3),
                          "price": f"{rng.randint(100, 9000) / 100:.2f}"})
        total = sum(int(it["price"].replace(".", "")) * it["quantity"] for it in items)
        member = {"id": f"mem_ev_{rng.randint(1, MEMBERS)}"} if i % 2 == 0 else \
            {"identifier": {"type": "card", "value": f"7{rng.randint(1, MEMBERS):08d}"}}
        print(json.dumps({"type": "purchase", "member": member, "store": "milano-01",
                          "total": f"{total // 100}.{total % 100:02d}", "currency": "EUR",
                          "items": items}, separators=(",", ":")))


if __name__ == "__main__":
    if sys.argv[1] == "program":
        options = dict(zip(sys.argv[3::2], map(int, sys.argv[4::2])))
        program(sys.argv[2], options.get("--segments", 0), options.get("--rules", 0))
    elif sys.argv[1] == "members":
        members()
    else:
        bodies(int(sys.argv[2]))
