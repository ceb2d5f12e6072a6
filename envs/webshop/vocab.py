"""The vocabulary the generated WebShop catalog is drawn from.

The original WebShop scraped 1.18M Amazon products; shipping that is out of the question, so
the catalog is generated from this hand-written taxonomy instead. It is written to read like
real shopping data: six categories, eight product types each, every type with its own Amazon-
style category path, attribute phrases (the things instructions ask for, such as "gluten free"
or "long lasting"), customisation options (size, colour, flavour, pack count ...), a price band
and a few title extras. Categories add shared attributes and brands.

Attribute phrases come in two grammatical kinds, which the instruction writer needs to place
them naturally: adjective-like phrases ("long lasting") go before the product noun, and phrases
that start with a preposition ("for sensitive skin", "with pockets") go after it, as do "no ..."
phrases, which read "with no preservatives". Noun-like features are written with their
preposition ("with charging case"), since "a charging case wireless earbuds" reads badly.

Option values must be unique within a product type (across its option kinds), because a click
on "black" must select one option unambiguously, and no two values of one kind may match each
other under the reward ("olive green" and "forest green" both reduce to "green"); the tests
check both.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProductType:
    name: str
    """What a shopper types and what instructions call it ("lip balm"); also the product's query."""
    title: str
    """How the type appears in product titles ("Lip Balm")."""
    path: tuple[str, ...]
    """Category path below the category root, most general first."""
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    price: tuple[float, float]
    extras: tuple[str, ...] = ()
    """Short title tails ("with Shea Butter") that make titles distinct and realistic."""
    plural: bool = False
    """The name is a plural noun ("socks"): instructions use no article."""
    category_attributes: bool = True
    """False where the category's shared attributes make no sense ("paraben free hair dryer")."""


@dataclass(frozen=True)
class Category:
    key: str
    """Short category name stored on products ("beauty")."""
    root: str
    """First element of the product category path ("Beauty & Personal Care")."""
    brands: tuple[str, ...]
    attributes: tuple[str, ...]
    """Attributes any type of the category may have, in addition to the type's own."""
    pitches: tuple[str, ...]
    """Description sentences; `{brand}` and `{type}` are filled in."""
    types: tuple[ProductType, ...] = field(default=())


LINES = (
    "Everyday", "Classic", "Essentials", "Pro", "Signature", "Original", "Ultra", "Daily",
    "Select", "Premium", "Heritage", "Studio", "Basics", "Prime", "Elite", "Vital", "Urban",
    "Summit", "Coastal", "Nordic", "Fresh", "Simple", "True", "Bold", "Pure", "Modern", "Active",
    "Home", "Core", "Max", "Lite", "Plus", "Air", "Flex", "Zen", "Craft", "Wild", "Bright",
)
"""Product-line names between brand and type in titles ("Honeyleaf Everyday Lip Balm")."""

COLORS_FASHION = (
    "black", "white", "navy", "heather grey", "olive green", "burgundy", "royal blue", "khaki",
    "charcoal", "dusty pink", "beige", "mustard",
)
COLORS_PRODUCT = ("black", "white", "silver", "space grey", "rose gold", "blue", "red", "green", "pink")
COLORS_HOME = ("white", "grey", "beige", "navy", "sage green", "charcoal", "ivory", "blush pink", "teal")
SIZES_APPAREL = ("small", "medium", "large", "x-large", "xx-large")
SIZES_SHOES = ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12")
PACKS = ("pack of 1", "pack of 2", "pack of 3", "pack of 4", "pack of 6", "pack of 12")
PACKS_BULK = ("pack of 6", "pack of 12", "pack of 18", "pack of 24", "pack of 36")


def _t(name, title, path, attributes, options, price, extras=(), plural=False, category_attributes=True):
    return ProductType(name, title, tuple(path), tuple(attributes), dict(options), price, tuple(extras), plural,
                       category_attributes)


BEAUTY = Category(
    key="beauty",
    root="Beauty & Personal Care",
    brands=("Lumina", "Velvet Bloom", "Pure Petal", "Aurora Skin", "Honeyleaf", "Coastal Glow",
            "Maison Rose", "Verdant Botanics", "Silk & Sage", "NovaDerm", "Bare Theory", "Orchid Lane",
            "Dewdrop", "Saltwater Co", "Amberly", "Kind Earth"),
    attributes=("cruelty free", "paraben free", "dermatologist tested", "travel size", "made with natural ingredients",
                "fragrance free", "vegan"),
    pitches=("{brand} formulas are made in small batches and tested for gentle everyday use.",
             "Every {type} from {brand} is made without harsh chemicals.",
             "Loved by customers for its clean feel and lightweight texture.",
             "A simple addition to your daily self care routine."),
    types=(
        _t("lip balm", "Lip Balm", ("Skin Care", "Lip Care", "Lip Balms"),
           ("long lasting", "spf 15", "moisturizing", "shea butter", "for dry lips"),
           {"flavor": ("cherry", "vanilla", "mint", "strawberry", "coconut", "honey", "watermelon"),
            "pack": ("pack of 2", "pack of 3", "pack of 4", "pack of 6")},
           (3.0, 19.0), ("with Beeswax", "Tinted Balm", "for Chapped Lips", "Stick")),
        _t("shampoo", "Shampoo", ("Hair Care", "Shampoo & Conditioner", "Shampoos"),
           ("sulfate free", "color safe", "for dry hair", "anti dandruff", "argan oil"),
           {"scent": ("lavender", "citrus", "coconut", "eucalyptus", "unscented", "rosemary mint"),
            "size": ("8 fl oz", "12 fl oz", "16 fl oz", "33.8 fl oz")},
           (6.0, 34.0), ("for Daily Use", "Volumizing Formula", "Salon Formula", "for All Hair Types")),
        _t("face moisturizer", "Face Moisturizer", ("Skin Care", "Face", "Moisturizers"),
           ("hyaluronic acid", "oil free", "non comedogenic", "for sensitive skin", "spf 30", "anti aging"),
           {"size": ("1 oz", "1.7 oz", "2.5 oz", "3.4 oz")},
           (9.0, 58.0), ("Day Cream", "Lightweight Gel Cream", "with Vitamin C", "Hydrating Lotion")),
        _t("nail polish", "Nail Polish", ("Makeup", "Nails", "Nail Polish"),
           ("quick dry", "chip resistant", "non toxic", "high gloss", "long lasting"),
           {"color": ("coral", "navy", "ruby red", "nude", "lilac", "black", "mint green", "gold glitter"),
            "pack": ("pack of 1", "pack of 3", "pack of 6")},
           (4.0, 19.0), ("Gel Effect", "Salon Finish", "Nail Lacquer", "Classic Shades")),
        _t("eyeliner", "Eyeliner", ("Makeup", "Eyes", "Eyeliner"),
           ("waterproof", "smudge proof", "long lasting", "easy to apply", "ultra fine tip"),
           {"color": ("black", "brown", "navy", "bronze", "plum", "forest green")},
           (5.0, 24.0), ("Liquid Pen", "Gel Pencil", "Retractable Pencil", "Felt Tip")),
        _t("hair dryer", "Hair Dryer", ("Hair Care", "Styling Tools", "Hair Dryers"),
           ("ionic", "lightweight", "fast drying", "low noise", "with diffuser", "foldable handle"),
           {"color": ("black", "rose gold", "white", "pink", "lavender")},
           (19.0, 119.0), ("1875W Blow Dryer", "with Concentrator Nozzle", "Travel Blow Dryer", "Salon Dryer"),
           category_attributes=False),
        _t("body wash", "Body Wash", ("Personal Care", "Bath & Bathing Accessories", "Body Washes"),
           ("moisturizing", "for sensitive skin", "ph balanced", "shea butter", "sulfate free"),
           {"scent": ("lavender", "coconut", "eucalyptus", "oatmeal", "citrus", "unscented"),
            "size": ("12 fl oz", "16 fl oz", "22 fl oz", "32 fl oz")},
           (5.0, 24.0), ("Shower Gel", "Daily Cleanser", "Creamy Formula", "for Men and Women")),
        _t("makeup brush set", "Makeup Brush Set", ("Tools & Accessories", "Makeup Brushes & Tools", "Brush Sets"),
           ("synthetic bristles", "easy to clean", "with travel case", "ultra soft", "cruelty free"),
           {"color": ("rose gold", "black", "marble white", "champagne"),
            "set": ("8 piece", "12 piece", "16 piece")},
           (8.0, 39.0), ("for Foundation and Blush", "with Storage Pouch", "Kabuki Brushes", "Professional Kit"),
           category_attributes=False),
    ),
)

GROCERY = Category(
    key="grocery",
    root="Grocery & Gourmet Food",
    brands=("Harvest Table", "Golden Acre", "Mountain Pantry", "Sunny Fields", "Barrel & Oak", "Little Orchard",
            "Wholesome Co", "Prairie Mill", "Blue Ridge Foods", "Kettle & Crumb", "Nature's Path Farm",
            "Olive Grove", "Morning Ritual", "Bramble Hill", "True North Foods", "Copper Kettle"),
    attributes=("gluten free", "non gmo", "organic", "kosher", "vegan", "no artificial flavors"),
    pitches=("{brand} sources its ingredients from family farms.",
             "Made in a dedicated facility and packed fresh for great taste.",
             "A pantry favorite for busy mornings and on the go snacking.",
             "Every {type} is taste tested before it leaves the kitchen."),
    types=(
        _t("granola bar", "Granola Bar", ("Snacks & Sweets", "Snack Bars", "Granola Bars"),
           ("whole grain", "chewy", "no high fructose corn syrup", "with real fruit", "low sugar",
            "individually wrapped", "high protein"),
           {"flavor": ("chocolate chip", "peanut butter", "oats and honey", "blueberry", "almond", "dark chocolate"),
            "pack": PACKS_BULK},
           (5.0, 29.0), ("Snack Bars", "Breakfast Bars", "Crunchy Bars", "Variety Pack")),
        _t("ground coffee", "Ground Coffee", ("Beverages", "Coffee, Tea & Cocoa", "Ground Coffee"),
           ("dark roast", "fair trade", "single origin", "smooth finish", "low acid"),
           {"flavor": ("french vanilla", "hazelnut", "caramel", "original", "mocha"),
            "size": ("12 oz", "24 oz", "32 oz", "2 lb")},
           (8.0, 34.0), ("100% Arabica", "Bag", "Breakfast Blend", "House Blend")),
        _t("green tea", "Green Tea", ("Beverages", "Coffee, Tea & Cocoa", "Green Tea"),
           ("caffeine free", "antioxidant rich", "loose leaf", "unsweetened"),
           {"flavor": ("jasmine", "peppermint", "lemon", "honey ginger", "matcha", "pomegranate"),
            "count": ("20 count", "40 count", "100 count")},
           (4.0, 24.0), ("Tea Bags", "Herbal Blend", "Premium Leaves", "Sampler")),
        _t("potato chips", "Potato Chips", ("Snacks & Sweets", "Chips & Crisps", "Potato Chips"),
           ("kettle cooked", "low sodium", "thick cut", "cooked in avocado oil", "individually wrapped"),
           {"flavor": ("sea salt", "barbecue", "sour cream and onion", "salt and vinegar", "jalapeno"),
            "pack": PACKS_BULK},
           (3.0, 29.0), ("Snack Bags", "Family Size", "Crispy Chips", "Party Pack"), plural=True),
        _t("olive oil", "Olive Oil", ("Pantry Staples", "Oils, Vinegars & Salad Dressings", "Olive Oils"),
           ("extra virgin", "cold pressed", "first harvest", "rich in polyphenols"),
           {"size": ("16.9 fl oz", "25.5 fl oz", "33.8 fl oz", "101 fl oz")},
           (8.0, 44.0), ("Glass Bottle", "Mediterranean Blend", "for Cooking and Salads", "Imported from Spain")),
        _t("dark chocolate", "Dark Chocolate", ("Snacks & Sweets", "Candy & Chocolate", "Chocolate Bars"),
           ("dairy free", "fair trade", "70 percent cacao", "ethically sourced", "keto friendly", "low sugar"),
           {"flavor": ("sea salt", "almond", "orange", "mint", "raspberry", "espresso"),
            "pack": ("pack of 3", "pack of 6", "pack of 12")},
           (3.0, 29.0), ("Bar", "Squares", "Gift Box", "Thins")),
        _t("beef jerky", "Beef Jerky", ("Snacks & Sweets", "Jerky & Dried Meats", "Beef Jerky"),
           ("low fat", "no preservatives", "grass fed", "tender cut", "high protein", "keto friendly"),
           {"flavor": ("original", "teriyaki", "peppered", "sweet and spicy", "smoked"),
            "size": ("3 oz", "8 oz", "16 oz")},
           (6.0, 34.0), ("Meat Snacks", "Resealable Bag", "Protein Snack", "Classic Strips")),
        _t("pasta sauce", "Pasta Sauce", ("Pantry Staples", "Sauces, Gravies & Marinades", "Pasta Sauces"),
           ("no sugar added", "low sodium", "slow simmered", "made with italian tomatoes", "keto friendly"),
           {"flavor": ("marinara", "tomato basil", "arrabbiata", "roasted garlic", "four cheese"),
            "pack": ("pack of 1", "pack of 2", "pack of 4", "pack of 6")},
           (4.0, 24.0), ("Jar", "Homestyle Recipe", "Italian Style", "Chunky Sauce")),
    ),
)

FASHION = Category(
    key="fashion",
    root="Clothing, Shoes & Jewelry",
    brands=("Northwind", "Urban Thread", "Cedar & Pine", "Bluebell", "Ridgeline", "Maple Row", "Solstice",
            "Harbor Lane", "Stitch & Co", "Alder", "Fieldstone", "Juniper", "Wren & Willow", "Ironclad",
            "Tidewater", "Canyon Trail"),
    attributes=("machine washable", "moisture wicking", "quick drying", "lightweight", "breathable"),
    pitches=("{brand} designs clothes that hold their shape wash after wash.",
             "Made from carefully selected fabrics for all day comfort.",
             "A versatile piece that works for casual days, travel and the gym.",
             "Check the size chart in the images to find your best fit."),
    types=(
        _t("men's t-shirt", "Men's T-Shirt", ("Men", "Clothing", "Shirts", "T-Shirts"),
           ("cotton", "short sleeve", "crew neck", "tagless", "soft touch", "relaxed fit", "slim fit"),
           {"size": SIZES_APPAREL, "color": COLORS_FASHION},
           (9.0, 34.0), ("Casual Tee", "Workout Shirt", "Basic Top", "Graphic Tee")),
        _t("women's yoga pants", "Women's Yoga Pants", ("Women", "Clothing", "Active", "Leggings"),
           ("high waist", "tummy control", "four way stretch", "with pockets", "squat proof", "elastic waistband"),
           {"size": SIZES_APPAREL, "color": COLORS_FASHION},
           (14.0, 49.0), ("Workout Leggings", "Running Tights", "Full Length", "Capri Length"), plural=True),
        _t("running shoes", "Running Shoes", ("Men", "Shoes", "Athletic", "Running"),
           ("non slip", "breathable mesh", "with arch support", "memory foam", "lightweight"),
           {"size": SIZES_SHOES, "color": ("black", "white", "grey", "navy", "volt yellow", "red")},
           (34.0, 129.0), ("Walking Sneakers", "Road Running Trainers", "Tennis Shoes", "Gym Sneakers"), plural=True),
        _t("women's sandals", "Women's Sandals", ("Women", "Shoes", "Sandals", "Flat Sandals"),
           ("open toe", "ankle strap", "with arch support", "non slip", "with cushioned footbed"),
           {"size": SIZES_SHOES, "color": ("black", "tan", "white", "brown", "gold", "silver")},
           (14.0, 59.0), ("Summer Flats", "Beach Sandals", "Slide Sandals", "Dress Sandals"), plural=True),
        _t("winter jacket", "Winter Jacket", ("Men", "Clothing", "Jackets & Coats", "Down Jackets"),
           ("water resistant", "hooded", "fleece lined", "windproof", "with zip pockets", "relaxed fit"),
           {"size": SIZES_APPAREL, "color": ("black", "navy", "olive green", "charcoal", "burgundy", "khaki")},
           (39.0, 179.0), ("Puffer Coat", "Parka", "Insulated Coat", "Outdoor Jacket")),
        _t("women's dress", "Women's Dress", ("Women", "Clothing", "Dresses", "Casual Dresses"),
           ("v neck", "long sleeve", "floral print", "with pockets", "a line", "slim fit"),
           {"size": SIZES_APPAREL, "color": ("black", "navy", "burgundy", "dusty pink", "floral blue", "emerald")},
           (19.0, 69.0), ("Midi Dress", "Maxi Dress", "Swing Dress", "Wrap Dress")),
        _t("baseball cap", "Baseball Cap", ("Accessories", "Hats & Caps", "Baseball Caps"),
           ("adjustable", "cotton", "unisex", "with embroidered logo", "structured crown"),
           {"color": ("black", "white", "navy", "khaki", "olive green", "red", "pink")},
           (8.0, 29.0), ("Dad Hat", "Trucker Hat", "Sports Cap", "Low Profile Hat")),
        _t("athletic socks", "Athletic Socks", ("Men", "Clothing", "Socks", "Athletic Socks"),
           ("cushioned", "ankle length", "cotton blend", "arch compression", "odor resistant"),
           {"size": ("small", "medium", "large"), "pack": ("pack of 3", "pack of 6", "pack of 12"),
            "color": ("white", "black", "grey", "assorted")},
           (8.0, 29.0), ("Crew Socks", "No Show Socks", "Running Socks", "Work Socks"), plural=True),
    ),
)

ELECTRONICS = Category(
    key="electronics",
    root="Electronics",
    brands=("Voltix", "Zentro", "Auralink", "Nexora", "Pixelon", "Ampere Labs", "Kinetic", "Soundforge",
            "Lumetra", "Orbitek", "Quanta", "Helix", "Brightwave", "Corelink", "Vantix", "Polar Audio"),
    attributes=("plug and play", "easy to install", "compact", "durable", "travel friendly", "energy efficient"),
    pitches=("{brand} backs every {type} with an 18 month warranty and friendly support.",
             "Tested for safety and compatibility with most phones, tablets and laptops.",
             "A reliable everyday gadget at a fair price.",
             "Setup takes minutes and no extra software is needed."),
    types=(
        _t("wireless earbuds", "Wireless Earbuds", ("Headphones, Earbuds & Accessories", "Headphones",
                                                    "Earbud Headphones"),
           ("noise cancelling", "bluetooth 5.3", "water resistant", "with charging case", "with built in microphone",
            "with long battery life"),
           {"color": ("black", "white", "navy", "rose gold", "green")},
           (19.0, 149.0), ("In Ear Headphones", "Sports Earphones", "Stereo Earbuds", "with Deep Bass"), plural=True),
        _t("phone charger", "Phone Charger", ("Cell Phones & Accessories", "Chargers & Power Adapters",
                                              "Wall Chargers"),
           ("with foldable plug", "multi port", "with overheat protection", "with gan technology", "fast charging",
            "usb c"),
           {"wattage": ("20w", "30w", "45w", "65w"), "pack": ("pack of 1", "pack of 2", "pack of 3")},
           (9.0, 44.0), ("Wall Adapter", "Charging Block", "Travel Charger", "Power Adapter")),
        _t("power bank", "Power Bank", ("Cell Phones & Accessories", "Portable Power Banks"),
           ("with led display", "slim", "dual output", "airline approved", "fast charging", "usb c"),
           {"capacity": ("5000mah", "10000mah", "20000mah", "26800mah"), "color": COLORS_PRODUCT},
           (14.0, 59.0), ("Portable Charger", "Battery Pack", "External Battery", "Magnetic Charger")),
        _t("bluetooth speaker", "Bluetooth Speaker", ("Portable Audio & Video", "Portable Speakers & Docks",
                                                      "Portable Bluetooth Speakers"),
           ("waterproof", "with deep bass", "portable", "with stereo pairing", "with loud sound", "bluetooth",
            "with long battery life"),
           {"color": ("black", "blue", "red", "grey", "teal", "camo")},
           (19.0, 149.0), ("Outdoor Speaker", "Shower Speaker", "Party Speaker", "Mini Speaker")),
        _t("hdmi cable", "HDMI Cable", ("Accessories & Supplies", "Audio & Video Accessories", "HDMI Cables"),
           ("4k", "high speed", "braided", "gold plated", "ethernet"),
           {"length": ("3 ft", "6 ft", "10 ft", "15 ft", "25 ft"), "pack": ("pack of 1", "pack of 2", "pack of 3")},
           (5.0, 29.0), ("Cord", "for TV and Monitor", "Ultra HD Cable", "Gaming Cable")),
        _t("wireless mouse", "Wireless Mouse", ("Computers & Accessories", "Keyboards, Mice & Accessories", "Mice"),
           ("ergonomic", "silent click", "rechargeable", "adjustable dpi", "bluetooth"),
           {"color": ("black", "white", "grey", "pink", "blue")},
           (9.0, 49.0), ("Computer Mouse", "Optical Mouse", "for Laptop", "Portable Mouse")),
        _t("smart watch", "Smart Watch", ("Wearable Technology", "Smartwatches"),
           ("with heart rate monitor", "sleep tracking", "water resistant", "gps", "with always on display",
            "bluetooth", "with long battery life"),
           {"color": ("black", "silver", "rose gold", "midnight blue", "pink"), "size": ("40mm", "44mm", "46mm")},
           (39.0, 249.0), ("Fitness Tracker", "Activity Tracker", "Sports Watch", "Touchscreen Watch")),
        _t("usb flash drive", "USB Flash Drive", ("Computers & Accessories", "Data Storage", "USB Flash Drives"),
           ("usb 3.0", "high speed", "with metal casing", "keychain design"),
           {"capacity": ("32gb", "64gb", "128gb", "256gb"), "pack": ("pack of 1", "pack of 2", "pack of 5")},
           (5.0, 39.0), ("Thumb Drive", "Memory Stick", "Jump Drive", "Pen Drive")),
    ),
)

HOME = Category(
    key="home & kitchen",
    root="Home & Kitchen",
    brands=("Hearthstone", "Oak & Ember", "Casa Bella", "Greenhaus", "Linen Loft", "Brightnest", "Kitchara",
            "Willow Home", "Stonebridge", "Nest & Nook", "Cozy Grove", "Alpine Living", "Copperfield",
            "Driftwood", "Homespun", "Maple & Co"),
    attributes=("easy to clean", "long lasting", "modern design", "durable"),
    pitches=("{brand} designs practical pieces that make a house feel like home.",
             "Backed by a 1 year warranty and hassle free returns.",
             "A thoughtful gift for housewarmings, weddings and holidays.",
             "Built to handle daily use in busy households."),
    types=(
        _t("frying pan", "Frying Pan", ("Kitchen & Dining", "Cookware", "Skillets"),
           ("non stick", "oven safe", "induction compatible", "with stay cool handle", "stainless steel",
            "dishwasher safe", "heavy duty"),
           {"size": ("8 inch", "10 inch", "12 inch"), "color": ("black", "grey", "red", "cream")},
           (14.0, 69.0), ("Skillet", "Omelette Pan", "Saute Pan", "with Lid")),
        _t("bath towel set", "Bath Towel Set", ("Bath", "Towels", "Bath Towels"),
           ("cotton", "quick drying", "highly absorbent", "machine washable", "hotel quality"),
           {"color": COLORS_HOME, "pack": ("set of 2", "set of 4", "set of 6", "set of 8")},
           (19.0, 59.0), ("Soft Towels", "Bathroom Towels", "Spa Towels", "Plush Towels")),
        _t("water bottle", "Water Bottle", ("Kitchen & Dining", "Travel & To-Go Drinkware", "Water Bottles"),
           ("leak proof", "insulated", "stainless steel", "with straw lid", "double wall", "bpa free",
            "dishwasher safe"),
           {"size": ("17 oz", "24 oz", "32 oz", "40 oz"),
            "color": ("black", "white", "sage green", "navy", "lavender", "coral")},
           (9.0, 44.0), ("Sports Bottle", "Vacuum Flask", "Travel Bottle", "Gym Bottle")),
        _t("throw pillow covers", "Throw Pillow Covers", ("Home Decor", "Decorative Pillows", "Throw Pillow Covers"),
           ("velvet", "with hidden zipper", "machine washable", "soft", "double sided"),
           {"size": ("16 x 16 inch", "18 x 18 inch", "20 x 20 inch"), "color": COLORS_HOME,
            "pack": ("set of 2", "set of 4")},
           (8.0, 34.0), ("Cushion Cases", "for Couch and Sofa", "Decorative Covers", "Farmhouse Style"), plural=True),
        _t("storage bins", "Storage Bins", ("Storage & Organization", "Baskets, Bins & Containers", "Storage Bins"),
           ("foldable", "with handles", "fabric", "sturdy", "space saving", "heavy duty", "easy to assemble"),
           {"color": ("grey", "beige", "white", "navy", "black"), "pack": ("set of 3", "set of 4", "set of 6")},
           (12.0, 44.0), ("Closet Organizers", "Cube Baskets", "Shelf Baskets", "Toy Storage"), plural=True),
        _t("led desk lamp", "LED Desk Lamp", ("Lighting & Ceiling Fans", "Lamps & Shades", "Desk Lamps"),
           ("dimmable", "eye caring", "with usb charging port", "touch control", "with adjustable arm",
            "space saving"),
           {"color": ("black", "white", "silver", "wood grain")},
           (17.0, 59.0), ("Reading Lamp", "Table Lamp", "Study Light", "Office Lamp")),
        _t("bed sheet set", "Bed Sheet Set", ("Bedding", "Sheets & Pillowcases", "Sheet & Pillowcase Sets"),
           ("deep pocket", "wrinkle free", "breathable", "machine washable", "microfiber"),
           {"size": ("twin", "full", "queen", "king", "california king"), "color": COLORS_HOME},
           (19.0, 89.0), ("4 Piece Set", "Soft Bedding", "Hotel Sheets", "Cooling Sheets")),
        _t("coffee maker", "Coffee Maker", ("Kitchen & Dining", "Coffee, Tea & Espresso", "Drip Coffee Machines"),
           ("programmable", "auto shut off", "with keep warm plate", "with reusable filter",
            "with brew strength control", "bpa free"),
           {"capacity": ("5 cup", "10 cup", "12 cup", "14 cup"), "color": ("black", "stainless steel", "white", "red")},
           (24.0, 119.0), ("Drip Coffee Machine", "with Glass Carafe", "Coffee Brewer", "Single Serve Brewer")),
    ),
)

SPORTS = Category(
    key="sports",
    root="Sports & Outdoors",
    brands=("Peak Form", "Trailhead", "Ironpeak", "Velocity", "Summit Gear", "Evergreen Outfitters",
            "Forge Fitness", "Northstar", "Basecamp", "Tempo", "Granite Athletics", "Wildpath", "Kinetic Core",
            "Riverbend", "Apex Motion", "Outbound"),
    attributes=("durable", "for beginners", "easy to carry"),
    pitches=("{brand} gear is tested by coaches and weekend athletes alike.",
             "Built for home workouts, the gym and the great outdoors.",
             "Comes with a simple guide to get you started on day one.",
             "Every {type} is covered by a 2 year warranty."),
    types=(
        _t("yoga mat", "Yoga Mat", ("Exercise & Fitness", "Yoga", "Yoga Mats"),
           ("non slip", "extra thick", "eco friendly", "with carrying strap", "with alignment lines"),
           {"color": ("purple", "black", "teal", "pink", "grey", "blue"),
            "thickness": ("1/4 inch", "1/3 inch", "1/2 inch")},
           (14.0, 59.0), ("Exercise Mat", "Pilates Mat", "Workout Mat", "Fitness Mat")),
        _t("resistance bands", "Resistance Bands",
           ("Exercise & Fitness", "Strength Training Equipment", "Resistance Bands"),
           ("latex free", "with handles", "with door anchor", "stackable", "portable"),
           {"set": ("set of 3", "set of 5", "set of 11"), "color": ("multicolor", "black", "pink")}, (9.0, 34.0),
           ("Exercise Bands", "Workout Bands", "Stretch Bands", "Loop Bands"), plural=True),
        _t("dumbbells", "Dumbbells", ("Exercise & Fitness", "Strength Training Equipment", "Dumbbells"),
           ("neoprene coated", "with non slip grip", "hex shape", "anti roll"),
           {"weight": ("5 lb", "10 lb", "15 lb", "20 lb", "25 lb"), "pack": ("single", "pair")},
           (14.0, 89.0), ("Hand Weights", "Free Weights", "Weight Set", "Home Gym Weights"), plural=True),
        _t("camping tent", "Camping Tent", ("Outdoor Recreation", "Camping & Hiking", "Tents"),
           ("waterproof", "easy setup", "with rainfly", "lightweight", "with mesh windows"),
           {"capacity": ("2 person", "4 person", "6 person", "8 person"), "color": ("green", "orange", "grey", "blue")},
           (49.0, 249.0), ("Dome Tent", "Family Tent", "Backpacking Tent", "Instant Tent")),
        _t("hiking backpack", "Hiking Backpack", ("Outdoor Recreation", "Camping & Hiking", "Backpacks"),
           ("water resistant", "with rain cover", "with padded straps", "hydration compatible", "lightweight"),
           {"capacity": ("30l", "40l", "50l", "65l"), "color": ("black", "grey", "army green", "blue", "orange")},
           (24.0, 109.0), ("Daypack", "Trekking Pack", "Travel Backpack", "Outdoor Rucksack")),
        _t("protein powder", "Protein Powder", ("Sports Nutrition", "Protein", "Whey Protein"),
           ("low sugar", "gluten free", "easy to mix", "grass fed whey", "no artificial sweeteners", "keto friendly"),
           {"flavor": ("chocolate", "vanilla", "cookies and cream", "strawberry", "unflavored"),
            "size": ("1 lb", "2 lb", "5 lb")},
           (19.0, 69.0), ("Whey Isolate", "Shake Mix", "Post Workout", "Plant Blend"), category_attributes=False),
        _t("jump rope", "Jump Rope", ("Exercise & Fitness", "Cardio Training", "Jump Ropes"),
           ("adjustable length", "with ball bearings", "tangle free", "with foam handles", "portable"),
           {"color": ("black", "red", "blue", "pink", "green")},
           (6.0, 24.0), ("Speed Rope", "Skipping Rope", "for Fitness", "Crossfit Rope")),
        _t("cycling gloves", "Cycling Gloves", ("Cycling", "Clothing", "Gloves"),
           ("with padded palm", "touchscreen compatible", "non slip", "half finger", "breathable", "sweat resistant"),
           {"size": SIZES_APPAREL, "color": ("black", "red", "blue", "grey")},
           (9.0, 34.0), ("Bike Gloves", "Mountain Bike Gloves", "Road Bike Gloves", "Biking Mitts"), plural=True),
    ),
)

CATEGORIES: tuple[Category, ...] = (BEAUTY, GROCERY, FASHION, ELECTRONICS, HOME, SPORTS)

PREPOSITIONS = ("for ", "with ", "made with ", "cooked in ", "rich in ", "no ")
"""Attribute phrases starting with these read after the product noun in instructions."""

OPTION_PHRASES = {
    "color": "in {v} color",
    "size": "in size {v}",
    "flavor": "in {v} flavor",
    "scent": "with {v} scent",
    "pack": "{v}",
    "count": "{v}",
    "set": "{v}",
    "capacity": "with {v} capacity",
    "length": "{v} long",
    "wattage": "with {v} output",
    "weight": "{v}",
    "thickness": "{v} thick",
}
"""How an instruction asks for an option value, per option kind."""

REVIEW_TITLES = (
    "Exactly what I needed", "Great value", "Works as described", "Would buy again", "Pretty good",
    "Not bad for the price", "Love it", "Solid quality", "Good but not perfect", "Five stars",
)
REVIEW_BODIES = (
    "The {type} arrived quickly and the quality is better than I expected.",
    "I have used this {type} for a few weeks now and it still looks new.",
    "Good {type} overall. I liked that it is {attribute}.",
    "Bought this as a gift and they loved it. The {attribute} part really matters.",
    "Does the job. Packaging could be better but the {type} itself is fine.",
    "Compared a few brands and this {type} was the best one for the money.",
)
