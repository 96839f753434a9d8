"""The word lists the generated shop is built from: categories, product types, attributes,
option groups, brands and phrasing. Pure data, no logic.

Each product type lives in one of WebShop's five top categories and carries what a shopper
can ask for: attributes (WebShop mines these from Amazon listings; here they are written by
hand so that types of one category share words, which makes search realistic), option groups
with their values, and a price range. Option values are unique within a type, so a click on a
value names one group.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    """One kind of product (the WebShop ``query`` of its listings)."""

    name: str  # noun phrase used in titles, searches and instructions: "hair extension"
    path: str  # category path below the top category, joined with " › "
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]  # (group, values)
    price: tuple[float, float]
    details: tuple[str, ...]  # title endings: "for Women", "Full Head Set"


@dataclass(frozen=True)
class Category:
    """A WebShop top category (``beauty``, ``fashion``, ...) and its department name."""

    name: str
    department: str
    types: tuple[ProductType, ...]


# fmt: off
CATEGORIES: tuple[Category, ...] = (
    Category("beauty", "Beauty & Personal Care", (
        ProductType(
            "hair extension",
            "Hair Care › Hair Extensions, Wigs & Accessories › Extensions",
            ("natural looking", "long lasting", "heat resistant", "tangle free", "human hair",
             "easy to apply", "high quality"),
            (
                ("color", ("black", "dark brown", "light brown", "blonde", "auburn")),
                ("length", ("14 inch", "16 inch", "18 inch", "20 inch", "22 inch")),
            ),
            (15.0, 80.0),
            ("Clip In", "Full Head Set", "Straight Hair", "Wavy Style", "for Women"),
        ),
        ProductType(
            "shampoo",
            "Hair Care › Shampoo & Conditioner › Shampoos",
            ("sulfate free", "paraben free", "for dry hair", "natural ingredients",
             "cruelty free", "color safe", "anti dandruff"),
            (
                ("size", ("8 fl oz", "12 fl oz", "16 fl oz", "32 fl oz")),
                ("scent", ("lavender", "coconut", "citrus", "unscented", "mint")),
            ),
            (5.0, 35.0),
            ("for Women and Men", "Salon Formula", "Daily Care", "Moisture Repair"),
        ),
        ProductType(
            "lipstick",
            "Makeup › Lips › Lipstick",
            ("long lasting", "matte finish", "cruelty free", "paraben free", "moisturizing",
             "waterproof", "vegan"),
            (
                ("color", ("red", "nude", "pink", "berry", "coral", "plum")),
            ),
            (5.0, 30.0),
            ("Lip Color", "Velvet Formula", "Everyday Makeup", "Gift Set"),
        ),
        ProductType(
            "face moisturizer",
            "Skin Care › Face › Creams & Moisturizers",
            ("for sensitive skin", "fragrance free", "oil free", "hyaluronic acid", "anti aging",
             "non comedogenic", "dermatologist tested"),
            (
                ("size", ("1.7 oz", "2.5 oz", "4 oz")),
            ),
            (8.0, 60.0),
            ("Day Cream", "Night Cream", "for Face and Neck", "Daily Hydration"),
        ),
        ProductType(
            "nail polish",
            "Foot, Hand & Nail Care › Nail Art & Polish › Nail Polish",
            ("quick dry", "long lasting", "non toxic", "high gloss", "chip resistant", "vegan",
             "easy to apply"),
            (
                ("color", ("red", "pink", "nude", "black", "purple", "silver glitter")),
            ),
            (4.0, 25.0),
            ("Nail Lacquer", "Salon Finish", "Gel Effect", "Gift Set"),
        ),
        ProductType(
            "electric toothbrush",
            "Oral Care › Toothbrushes & Accessories › Powered Toothbrushes",
            ("rechargeable", "long battery life", "travel case", "sonic technology",
             "soft bristles", "easy to use", "timer"),
            (
                ("color", ("white", "black", "pink", "blue")),
            ),
            (20.0, 120.0),
            ("for Adults", "with 4 Brush Heads", "Whitening", "Deep Clean"),
        ),
    )),
    Category("fashion", "Clothing, Shoes & Jewelry", (
        ProductType(
            "running shoes",
            "Men › Shoes › Athletic › Running",
            ("lightweight", "breathable mesh", "non slip", "rubber sole", "arch support",
             "memory foam", "machine wash"),
            (
                ("size", ("7", "8", "9", "10", "11", "12")),
                ("color", ("black", "white", "grey", "navy", "red")),
            ),
            (30.0, 150.0),
            ("for Men", "Road Running", "Gym Trainer", "Walking Sneaker"),
        ),
        ProductType(
            "polo shirt",
            "Men › Clothing › Shirts › Polos",
            ("moisture wicking", "short sleeve", "machine wash", "slim fit", "cotton blend",
             "quick dry", "regular fit"),
            (
                ("size", ("small", "medium", "large", "x-large", "xx-large")),
                ("color", ("black", "white", "navy", "green", "maroon")),
            ),
            (12.0, 60.0),
            ("for Men", "Golf Shirt", "Casual Top", "Classic Collar"),
        ),
        ProductType(
            "dress",
            "Women › Clothing › Dresses › Casual",
            ("long sleeve", "floral print", "high waist", "machine wash", "v neck",
             "polyester spandex", "pockets"),
            (
                ("size", ("small", "medium", "large", "x-large")),
                ("color", ("black", "floral blue", "wine red", "green", "pink")),
            ),
            (18.0, 90.0),
            ("for Women", "Summer Casual", "Party Midi", "Flowy Swing"),
        ),
        ProductType(
            "jeans",
            "Men › Clothing › Jeans",
            ("slim fit", "stretch fabric", "straight leg", "machine wash", "button closure",
             "relaxed fit", "cotton blend"),
            (
                ("size", ("30w x 30l", "32w x 30l", "32w x 32l", "34w x 32l", "36w x 32l")),
                ("color", ("dark wash", "light wash", "black", "medium wash")),
            ),
            (20.0, 95.0),
            ("for Men", "Denim Pants", "Classic 5 Pocket", "Everyday Wear"),
        ),
        ProductType(
            "winter jacket",
            "Women › Clothing › Coats, Jackets & Vests › Down Jackets & Parkas",
            ("water resistant", "fleece lined", "hooded", "zipper closure", "windproof",
             "long sleeve", "machine wash"),
            (
                ("size", ("small", "medium", "large", "x-large")),
                ("color", ("black", "olive", "navy", "camel", "white")),
            ),
            (40.0, 200.0),
            ("for Women", "Warm Puffer Coat", "Outdoor Parka", "Quilted Outerwear"),
        ),
        ProductType(
            "ankle boots",
            "Women › Shoes › Boots › Ankle & Bootie",
            ("faux leather", "block heel", "side zipper", "non slip", "pointed toe",
             "comfortable", "rubber sole"),
            (
                ("size", ("6", "6.5", "7", "7.5", "8", "8.5", "9")),
                ("color", ("black", "brown", "taupe", "burgundy")),
            ),
            (25.0, 120.0),
            ("for Women", "Chelsea Bootie", "Fall Shoes", "Western Style"),
        ),
    )),
    Category("food", "Grocery & Gourmet Food", (
        ProductType(
            "protein bar",
            "Snacks & Sweets › Snack Bars › Protein Bars",
            ("gluten free", "low sugar", "high protein", "non gmo", "keto friendly",
             "plant based", "individually wrapped"),
            (
                ("flavor",
                 ("chocolate peanut butter", "cookie dough", "almond", "vanilla", "mixed berry")),
                ("size", ("12 count", "24 count")),
            ),
            (10.0, 45.0),
            ("Snack Bars", "Healthy Snack", "Meal Replacement", "Variety Pack"),
        ),
        ProductType(
            "ground coffee",
            "Beverages › Coffee, Tea & Cocoa › Coffee › Ground Coffee",
            ("fair trade", "organic", "low acid", "single origin", "decaffeinated",
             "100% arabica", "kosher"),
            (
                ("roast", ("light roast", "medium roast", "dark roast")),
                ("size", ("12 oz", "2 lb", "32 oz")),
            ),
            (7.0, 40.0),
            ("Bag", "Breakfast Blend", "Colombian Coffee", "Rich Flavor"),
        ),
        ProductType(
            "herbal tea",
            "Beverages › Coffee, Tea & Cocoa › Tea › Herbal",
            ("caffeine free", "organic", "non gmo", "individually wrapped", "kosher",
             "sugar free", "natural ingredients"),
            (
                ("flavor", ("chamomile", "peppermint", "ginger", "hibiscus", "lemon")),
                ("size", ("20 count", "40 count", "100 count")),
            ),
            (4.0, 30.0),
            ("Tea Bags", "Relaxing Blend", "Caffeine Free Infusion", "Wellness Tea"),
        ),
        ProductType(
            "trail mix",
            "Snacks & Sweets › Snack Foods › Trail Mix",
            ("resealable bag", "gluten free", "no added sugar", "high protein", "vegan",
             "individually packed", "non gmo"),
            (
                ("flavor", ("sweet and salty", "tropical", "dark chocolate", "classic nut")),
                ("size", ("8 oz", "16 oz", "26 oz")),
            ),
            (6.0, 35.0),
            ("Nut Mix", "Snack Pack", "On the Go", "Party Size"),
        ),
        ProductType(
            "olive oil",
            "Pantry Staples › Cooking Oils › Olive Oil",
            ("extra virgin", "cold pressed", "non gmo", "organic", "first harvest",
             "glass bottle", "kosher"),
            (
                ("size", ("500 ml", "750 ml", "1 liter")),
            ),
            (8.0, 45.0),
            ("Cooking Oil", "Imported", "for Salad and Cooking", "Mediterranean"),
        ),
        ProductType(
            "dark chocolate",
            "Snacks & Sweets › Chocolate › Chocolate Bars",
            ("sugar free", "dairy free", "fair trade", "keto friendly", "organic", "gluten free",
             "vegan"),
            (
                ("flavor", ("sea salt", "almond", "orange", "mint", "raspberry")),
                ("size", ("3.5 oz", "6 pack", "12 pack")),
            ),
            (5.0, 40.0),
            ("Chocolate Bar", "72% Cacao", "Gourmet Treat", "Gift Box"),
        ),
    )),
    Category("furniture", "Home & Kitchen", (
        ProductType(
            "office chair",
            "Furniture › Home Office Furniture › Home Office Chairs › Desk Chairs",
            ("lumbar support", "adjustable height", "mesh back", "ergonomic design",
             "easy assembly", "swivel wheels", "padded armrests"),
            (
                ("color", ("black", "grey", "white", "blue")),
            ),
            (60.0, 300.0),
            ("for Home Office", "Computer Desk Chair", "Task Chair", "Executive Chair"),
        ),
        ProductType(
            "coffee table",
            "Furniture › Living Room Furniture › Tables › Coffee Tables",
            ("solid wood", "storage shelf", "easy assembly", "mid century", "industrial style",
             "lift top", "metal frame"),
            (
                ("color", ("walnut", "oak", "black", "white", "rustic brown")),
            ),
            (50.0, 250.0),
            ("for Living Room", "Rectangle Table", "Center Table", "Modern Design"),
        ),
        ProductType(
            "bookshelf",
            "Furniture › Home Office Furniture › Bookcases",
            ("solid wood", "easy assembly", "anti tip", "metal frame", "industrial style",
             "open shelves", "space saving"),
            (
                ("size", ("3 tier", "4 tier", "5 tier")),
                ("color", ("walnut", "oak", "black", "white")),
            ),
            (35.0, 200.0),
            ("for Living Room", "Storage Organizer", "Display Rack", "Book Shelves"),
        ),
        ProductType(
            "bar stool",
            "Furniture › Kitchen & Dining Room Furniture › Bar Stools",
            ("swivel seat", "adjustable height", "faux leather", "footrest", "set of 2",
             "padded seat", "metal frame"),
            (
                ("color", ("black", "grey", "white", "brown")),
            ),
            (40.0, 220.0),
            ("for Kitchen Island", "Counter Height", "Pub Chair", "Modern Design"),
        ),
        ProductType(
            "tv stand",
            "Furniture › Living Room Furniture › TV & Media Furniture › Television Stands",
            ("cable management", "storage cabinet", "for tvs up to 65 inch", "tempered glass",
             "easy assembly", "led lights", "solid wood"),
            (
                ("color", ("black", "walnut", "white", "rustic oak")),
            ),
            (60.0, 280.0),
            ("for Living Room", "Entertainment Center", "Media Console", "Modern Design"),
        ),
        ProductType(
            "memory foam mattress",
            "Furniture › Bedroom Furniture › Mattresses & Box Springs › Mattresses",
            ("medium firm", "cooling gel", "certipur certified", "pressure relief",
             "hypoallergenic", "fiberglass free", "bed in a box"),
            (
                ("size", ("twin", "full", "queen", "king")),
            ),
            (120.0, 600.0),
            ("10 Inch", "12 Inch", "Bed Mattress", "Green Tea Infused"),
        ),
    )),
    Category("electronics", "Electronics", (
        ProductType(
            "wireless earbuds",
            "Headphones, Earbuds & Accessories › Headphones & Earbuds › Earbud Headphones",
            ("noise cancelling", "long battery life", "water resistant", "bluetooth 5.3",
             "charging case", "built-in microphone", "lightweight"),
            (
                ("color", ("black", "white", "blue", "rose gold")),
            ),
            (20.0, 180.0),
            ("Bluetooth Headphones", "for Sports", "In Ear", "Stereo Sound"),
        ),
        ProductType(
            "phone charger",
            "Accessories & Supplies › Power Accessories › Chargers & Adapters",
            ("fast charging", "usb c", "multiple ports", "compact design", "overheat protection",
             "foldable plug", "lightweight"),
            (
                ("wattage", ("20w", "30w", "65w")),
                ("color", ("white", "black")),
            ),
            (10.0, 60.0),
            ("Wall Charger", "Power Adapter", "for iPhone and Android", "Travel Block"),
        ),
        ProductType(
            "hdmi cable",
            "Accessories & Supplies › Audio & Video Accessories › Cables › HDMI Cables",
            ("4k 60hz", "high speed", "braided cord", "gold plated", "ethernet support",
             "durable", "lightweight"),
            (
                ("size", ("3 ft", "6 ft", "10 ft", "15 ft")),
            ),
            (6.0, 30.0),
            ("Video Cable", "for TV and Monitor", "Gaming Cord", "2 Pack"),
        ),
        ProductType(
            "portable speaker",
            "Portable Audio & Video › Portable Speakers & Docks › Portable Bluetooth Speakers",
            ("waterproof", "deep bass", "long battery life", "built-in microphone",
             "wireless stereo pairing", "durable", "lightweight"),
            (
                ("color", ("black", "blue", "red", "grey")),
            ),
            (20.0, 150.0),
            ("Bluetooth Speaker", "for Outdoor", "Party Sound", "Compact Design"),
        ),
        ProductType(
            "security camera",
            "Camera & Photo › Video Surveillance › Surveillance Cameras › Dome Cameras",
            ("night vision", "motion detection", "two way audio", "1080p hd", "wifi",
             "cloud storage", "easy to install"),
            (
                ("size", ("1 pack", "2 pack", "4 pack")),
                ("color", ("white", "black")),
            ),
            (25.0, 200.0),
            ("Indoor Camera", "Home Security", "Outdoor Surveillance", "Baby Monitor"),
        ),
        ProductType(
            "computer mouse",
            "Computers & Accessories › Computer Accessories & Peripherals › Mice",
            ("wireless", "ergonomic design", "silent click", "rechargeable", "adjustable dpi",
             "usb receiver", "lightweight"),
            (
                ("color", ("black", "white", "grey", "pink")),
            ),
            (8.0, 80.0),
            ("for Laptop", "Optical Mouse", "Office Mouse", "Gaming Mouse"),
        ),
    )),
)
# fmt: on

# Types read without an article ("i need olive oil"); "is" still agrees with them.
UNCOUNTABLE_TYPES = frozenset(
    {"ground coffee", "herbal tea", "trail mix", "olive oil", "dark chocolate", "shampoo"}
)

# Made-up brand names: proper nouns in titles, like WebShop's Amazon brands.
BRANDS: tuple[str, ...] = (
    "Lumora",
    "Vexa",
    "Oakridge",
    "Nordvik",
    "Solace",
    "Brightwell",
    "Kavio",
    "Tessel",
    "Marlow",
    "Quenby",
    "Ardent",
    "Halcyon",
    "Zephra",
    "Cobalto",
    "Fernly",
    "Ostara",
    "Pinecrest",
    "Rivana",
    "Sablewood",
    "Torvik",
    "Umbria",
    "Velora",
    "Wexford",
    "Yarrow",
    "Alder",
    "Bexley",
    "Calloway",
    "Dunmore",
    "Everly",
    "Fable",
    "Garnet",
    "Hollis",
)

# Generic feature sentences: carry no attribute phrase, so no product gets one by accident.
GENERIC_BULLETS: tuple[str, ...] = (
    "Backed by a one year warranty and friendly customer service.",
    "Packed carefully so it arrives in great shape.",
    "A thoughtful gift for family and friends.",
    "Designed and tested by our team before it ships.",
    "Check the size chart and the details before you order.",
)

REVIEW_TITLES: tuple[str, ...] = (
    "Just what I wanted",
    "Good value",
    "Works as described",
    "Would buy again",
    "Nice quality",
    "Decent for the price",
    "Pretty good",
    "Happy with it",
)

REVIEW_BODIES: tuple[str, ...] = (
    "I use this {type} every day and it holds up well.",
    "The {type} arrived quickly and looks like the photos.",
    "Solid {type}; the packaging could be better.",
    "Bought this {type} as a gift and they loved it.",
    "This {type} does the job, no complaints so far.",
)

# How an instruction opens and how it states the price bound (varied, as human goals are).
OPENINGS: tuple[str, ...] = (
    "i need {item}",
    "i am looking for {item}",
    "i want to buy {item}",
    "find me {item}",
    "i'm searching for {item}",
    "can you get me {item}",
)

ATTRIBUTE_JOINS: tuple[str, ...] = ("that {be} {attrs}", "which {be} {attrs}", ", {attrs},")

PRICE_PHRASES: tuple[str, ...] = (
    "and price lower than {price} dollars",
    "and the price should be under {price} dollars",
    "costing less than {price} dollars",
)

# How a chosen option value reads in an instruction, by option group.
OPTION_PHRASES: dict[str, tuple[str, ...]] = {
    "color": ("in {value}", "in {value} color", "with color {value}"),
    "size": ("in size {value}", "size {value}"),
    "length": ("with length {value}", "{value} long"),
    "scent": ("with {value} scent", "in the {value} scent"),
    "flavor": ("in {value} flavor", "{value} flavored"),
    "roast": ("{value}", "a {value}"),
    "wattage": ("with {value} power", "rated {value}"),
}
