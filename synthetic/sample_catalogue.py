"""The product catalogue of the committed real sample (tests/data/online_retail_sample.csv.gz),
derived from its own descriptions and prices: ``python -m synthetic.sample_catalogue`` writes
tests/data/online_retail_products.csv, the same bytes every time.

Products are the stock codes that start with five digits (the shop's articles); postage,
carriage, manual entries, discounts, adjustments, fees and test codes are left out, so their
rows count as the uncatalogued category ``unknown``. For each product:

* ``description``: its most frequent description in the sample (ties: the first by text);
* ``category``: the first group of :data:`GROUPS` (in that order) with a keyword that is a whole
  word of the description (upper case, split at spaces and ``,.()+/``: ``T-LIGHT`` is one word),
  else ``miscellaneous``; ``subcategory``: the keyword that matched (lower case);
* ``price_level``: the product's median unit price among its rows with a positive price, in
  thirds of the products: ``budget`` (lowest third), ``standard``, ``premium``;
* ``need_level``: ``basic`` for the products priced at or below the median product's price,
  ``core`` above it. The sample has no need information of its own: a cheap article counts as a
  basic need, the rest as core.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import polars as pl

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = PROJECT_ROOT / "tests" / "data" / "online_retail_sample.csv.gz"
CATALOGUE = PROJECT_ROOT / "tests" / "data" / "online_retail_products.csv"
OTHER_GROUP = "miscellaneous"

# group -> keywords; the first group with a keyword in the description wins, so the seasonal
# and party goods come before the kinds of item they also are
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "seasonal",
        (
            "CHRISTMAS",
            "XMAS",
            "EASTER",
            "ADVENT",
            "SANTA",
            "REINDEER",
            "SNOWFLAKE",
            "HALLOWEEN",
            "VALENTINE",
            "NATIVITY",
        ),
    ),
    (
        "party",
        (
            "PARTY",
            "BUNTING",
            "BALLOON",
            "BALLOONS",
            "NAPKIN",
            "NAPKINS",
            "BIRTHDAY",
            "CONFETTI",
            "GARLAND",
            "BANNER",
            "STRAWS",
            "PLACEMAT",
            "PLACEMATS",
        ),
    ),
    (
        "lighting",
        (
            "CANDLE",
            "CANDLES",
            "T-LIGHT",
            "T-LIGHTS",
            "LANTERN",
            "LIGHT",
            "LIGHTS",
            "LAMP",
            "LAMPSHADE",
            "INCENSE",
            "CANDLEHOLDER",
            "CHANDELIER",
            "OIL",
            "BURNER",
            "WARMER",
            "CANDLEPOT",
        ),
    ),
    (
        "toys",
        (
            "TOY",
            "TOYS",
            "GAME",
            "GAMES",
            "JIGSAW",
            "PUZZLE",
            "DOLL",
            "DOLLY",
            "BLOCK",
            "BLOCKS",
            "SPACEBOY",
            "DOMINOES",
            "SKITTLES",
            "PLAYING",
            "KIT",
            "FELTCRAFT",
            "CHILDRENS",
            "TEDDY",
            "CRAYONS",
            "BUBBLES",
            "SOLDIER",
            "MONEY",
            "SPINNING",
            "NINJA",
            "CIRCUS",
            "PUPPET",
            "BEAR",
            "INFLATABLE",
            "PIGGY",
            "BADGES",
        ),
    ),
    ("bags", ("BAG", "BAGS", "SHOPPER", "TOTE", "RUCKSACK", "BACKPACK")),
    (
        "jewellery",
        (
            "NECKLACE",
            "BRACELET",
            "EARRINGS",
            "RING",
            "CHARM",
            "BEAD",
            "BEADS",
            "HAIR",
            "BROOCH",
            "DIAMANTE",
            "PURSE",
            "UMBRELLA",
            "PONCHO",
            "GLOVES",
            "SCARF",
            "HAT",
            "HANDBAG",
            "WALLET",
            "BANGLE",
            "SLIDE",
            "CLIP",
            "JEWELLED",
            "BLING",
        ),
    ),
    (
        "kitchen",
        (
            "MUG",
            "MUGS",
            "CUP",
            "CUPS",
            "SAUCER",
            "PLATE",
            "PLATES",
            "BOWL",
            "BOWLS",
            "CAKESTAND",
            "CUTLERY",
            "SPOON",
            "SPOONS",
            "FORK",
            "TEAPOT",
            "TEA",
            "COFFEE",
            "JUG",
            "TRAY",
            "APRON",
            "KITCHEN",
            "PANTRY",
            "JAR",
            "JARS",
            "JAM",
            "BAKING",
            "CAKE",
            "CAKES",
            "RECIPE",
            "LUNCH",
            "BOTTLE",
            "DOILY",
            "PICNIC",
            "DINNER",
            "SCALES",
            "CHOPPING",
            "TUMBLER",
            "GLASSES",
            "BEAKER",
            "EGG",
            "COASTER",
            "COASTERS",
            "BISCUIT",
            "SUGAR",
            "MILK",
            "DISH",
            "PLATTER",
            "CHOPSTICKS",
            "BREAD",
            "FLASK",
            "GOBLET",
            "WINE",
            "OVEN",
            "LOLLY",
            "TRAYS",
        ),
    ),
    (
        "storage",
        (
            "BOX",
            "BOXES",
            "TIN",
            "TINS",
            "BASKET",
            "BASKETS",
            "STORAGE",
            "DRAWER",
            "DRAWERS",
            "CABINET",
            "TRINKET",
            "HAMPER",
            "CRATE",
            "CHEST",
            "CASE",
            "CASES",
        ),
    ),
    (
        "stationery",
        (
            "CARD",
            "CARDS",
            "NOTEBOOK",
            "PEN",
            "PENS",
            "PENCIL",
            "PENCILS",
            "PAPER",
            "STICKER",
            "STICKERS",
            "BOOK",
            "DIARY",
            "CALENDAR",
            "ENVELOPE",
            "ENVELOPES",
            "ERASER",
            "RULER",
            "TAPE",
            "STAMP",
            "STAMPS",
            "MAGNET",
            "MAGNETS",
            "NOTELET",
            "NOTELETS",
            "JOURNAL",
            "WRAP",
            "TISSUES",
            "CHALK",
            "LETTER",
            "POSTCARD",
            "SKETCHBOOK",
            "MEMO",
            "WRITING",
            "SCISSORS",
            "TAPES",
        ),
    ),
    (
        "garden",
        (
            "GARDEN",
            "PLANT",
            "PLANTER",
            "POT",
            "POTS",
            "WATERING",
            "FEEDER",
            "BIRDHOUSE",
            "SEED",
            "SEEDS",
            "PARASOL",
            "OUTDOOR",
            "HEN",
            "TROWEL",
            "FLOWERPOT",
            "WINDSOCK",
        ),
    ),
    (
        "bath",
        (
            "BATH",
            "BATHROOM",
            "SOAP",
            "SPONGE",
            "MAKE",
            "COSMETIC",
            "LIP",
            "NAIL",
            "TOILET",
            "TOWEL",
            "TOWELS",
            "SHOWER",
            "COMPACT",
            "WASHBAG",
            "FLANNEL",
        ),
    ),
    (
        "home decor",
        (
            "HEART",
            "HEARTS",
            "SIGN",
            "FRAME",
            "PHOTO",
            "CLOCK",
            "MIRROR",
            "CUSHION",
            "DOORMAT",
            "HOOK",
            "HOOKS",
            "HANGER",
            "ORNAMENT",
            "DECORATION",
            "WALL",
            "PICTURE",
            "VASE",
            "WREATH",
            "PLAQUE",
            "RACK",
            "KNOB",
            "DOORSTOP",
            "CHIME",
            "CHIMES",
            "THROW",
            "QUILT",
            "BLANKET",
            "CURTAIN",
            "HANGING",
            "GLASS",
            "TILE",
            "HOLDER",
            "STAND",
            "STOOL",
            "STOOLS",
            "COATHANGERS",
            "LETTERS",
            "IRONING",
            "FILLER",
        ),
    ),
)

_WORD = re.compile(r"[^\s,.()+/]+")


def group_of(description: str | None) -> tuple[str, str | None]:
    """The group and the keyword that matched of a description (``miscellaneous`` and None when
    no keyword is a word of it)."""
    words = set(_WORD.findall((description or "").upper()))
    for group, keywords in GROUPS:
        for keyword in keywords:
            if keyword in words:
                return group, keyword.lower()
    return OTHER_GROUP, None


def _levels(prices: pl.Series) -> tuple[pl.Series, pl.Series]:
    """price_level by thirds and need_level by halves of the products' median prices."""
    count = prices.len()
    rank = prices.rank(method="ordinal").cast(pl.Int64) - 1  # 0-based, ties by position
    third = (rank * 3) // count
    price_level = third.replace_strict([0, 1, 2], ["budget", "standard", "premium"])
    median = prices.sort().gather((count - 1) // 2).item()
    need_level = pl.Series(["basic" if price <= median else "core" for price in prices])
    return price_level, need_level


def derive_catalogue(sample: Path = SAMPLE) -> pl.DataFrame:
    """The catalogue of the sample's products (see the module docstring), sorted by id."""
    rows = pl.read_csv(sample, infer_schema_length=0).select(
        pl.col("StockCode").alias("product_id"),
        pl.col("Description").str.strip_chars().alias("description"),
        pl.col("Price").cast(pl.Float64).alias("price"),
    )
    products = rows.filter(pl.col("product_id").str.contains(r"^\d{5}"))
    descriptions = (
        products.filter(pl.col("description").is_not_null())
        .group_by("product_id", "description")
        .agg(pl.len().alias("rows"))
        .sort(["product_id", "rows", "description"], descending=[False, True, False])
        .group_by("product_id", maintain_order=True)
        .first()
        .select("product_id", "description")
    )
    prices = (
        products.filter(pl.col("price") > 0)
        .group_by("product_id")
        .agg(pl.col("price").median().alias("price"))
    )
    catalogue = (
        products.select("product_id")
        .unique()
        .join(descriptions, on="product_id", how="left")
        .join(prices, on="product_id", how="left")
        .with_columns(pl.col("price").fill_null(0.0))
        .sort("product_id")
    )
    groups = [group_of(text) for text in catalogue.get_column("description").to_list()]
    price_level, need_level = _levels(catalogue.get_column("price"))
    return catalogue.select(
        "product_id",
        pl.Series("category", [group for group, _ in groups]),
        pl.Series("subcategory", [keyword for _, keyword in groups], dtype=pl.String),
        price_level.alias("price_level"),
        need_level.alias("need_level"),
        "description",
    )


def main(argv: list[str] | None = None) -> None:
    """Write the catalogue (``--out``, default tests/data/online_retail_products.csv)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--out", type=Path, default=CATALOGUE)
    args = parser.parse_args(argv)
    catalogue = derive_catalogue(args.sample)
    catalogue.write_csv(args.out)
    counts = catalogue.group_by("category").len().sort("len", descending=True)
    print(f"{catalogue.height} products -> {args.out}")
    for category, count in counts.iter_rows():
        print(f"  {category}: {count}")


if __name__ == "__main__":
    main()
