"""Word lists for :mod:`hubsync.sandbox.seed`: names, company name parts, places, titles.

Names span many cultures and keep their accents; e-mail addresses use their ASCII folding
(:func:`fold`), and the lists are chosen so that no two entries fold to the same string (the
seed's uniqueness guarantees rely on it; a test checks). Company words fold to letters only.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def fold(name: str) -> str:
    """ASCII letters of ``name``, lower-cased: "Zoë" -> "zoe", "O'Brien" -> "obrien"."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_.lower() if "a" <= ch <= "z")


FIRST_NAMES: tuple[str, ...] = _words(
    """
    James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard
    Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty
    Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua
    Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald
    Rebecca Jason Laura Edward Sharon Jeffrey Cynthia Ryan Kathleen Jacob Amy Gary Angela Nicholas
    Shirley Eric Anna Jonathan Brenda Stephen Pamela Larry Emma Justin Nicole Scott Helen Brandon
    Samantha Benjamin Katherine Samuel Christine Gregory Debra Alexander Rachel Frank Carolyn
    Patrick Janet Raymond Catherine Jack Rosa Dennis Heather Jerry Diane Tyler Ruth Aaron Julie
    Oliver Charlotte Harry Amelia Noah Olivia Liam Isla Freya Alfie Poppy Archie Evie Theo Ivy
    Siobhan Niamh Ciaran Aoife Declan Saoirse Eoin Róisín
    José María Lucía Alejandro Sofía Javier Carmen Diego Valentina Mateo Camila Andrés Ximena
    Joaquín Guadalupe Rodrigo Paula Santiago Florencia Gonzalo Agustina
    João Ana Pedro Beatriz Tiago Inês Gabriel Larissa Rafael Mariana Thiago Júlia
    François Amélie Étienne Chloé Mathieu Camille Léa Antoine Hélène Julien Margaux Benoît
    Jürgen Lukas Anja Jörg Katharina Maximilian Felix Sabine Matthias Ursula Tobias Lena Björn
    Giulia Alessandro Francesca Matteo Chiara Lorenzo Giorgia Davide Federica Riccardo
    Sander Femke Bram Sanne Daan Lotte Joost Anouk Pieter Maartje
    Lars Ingrid Sven Astrid Erik Sigrid Magnus Linnea Henrik Solveig Anders Maja
    Piotr Agnieszka Krzysztof Małgorzata Tomasz Katarzyna Paweł Zofia
    Dmitri Olga Sergei Natalia Alexei Tatiana Ivan Ekaterina Nikolai Svetlana Yuri Irina
    Priya Arjun Ananya Rahul Deepika Vikram Kavya Rohan Aisha Sanjay Lakshmi Aditya Meera
    Pooja Ravi Neha Karthik Divya Suresh Anjali
    Wei Fang Jing Hao Mei Jun Xiu Lei Yan Chen Hui Zhen Ming Ling
    Hiroshi Yuki Haruto Sakura Kenji Aiko Takeshi Naoko Ren Hana Daiki Emi
    Minjun Jiwoo Seojun Haeun Jihoon Soyeon Dongmin Yuna
    Linh Minh Thao Quang Trang Tuan
    Mohammed Fatima Omar Layla Youssef Noor Hassan Amira Karim Zainab Tariq Yasmin Khalid Salma
    Mehmet Elif Emre Zeynep Burak Ayşe Kerem Defne
    Reza Shirin Dariush Parisa Kourosh Leila
    Chinedu Ngozi Oluwaseun Adaeze Emeka Folake Tunde Chioma Kwame Abena Kofi Ama
    Wanjiru Otieno Amani Baraka Zawadi Juma
    Thabo Lerato Sipho Nomvula
    Dimitrios Eleni Nikos Katerina Yannis Anastasia
    Mikko Aino Juhani Aleksi
    Ashok Ruby Noelani Keanu Tama Aroha Wiremu Mere
    """
)

LAST_NAMES: tuple[str, ...] = _words(
    """
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
    Gonzalez Wilson Anderson Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez
    Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores
    Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Phillips Evans Turner
    Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey
    Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray James Hughes Price Sanders
    Myers Long Ross Foster Powell Jenkins Perry Russell Sullivan Fisher Henderson Coleman
    OBrien McCarthy Gallagher Doyle Byrne Kavanagh Fitzgerald MacLeod
    Fernández Jiménez Ruiz Domínguez Vázquez Gómez Díaz Álvarez Romero Navarro Morales Ortega
    Castillo Vargas Mendoza Herrera Medina Aguilar Silva Santos Oliveira Souza Pereira Costa
    Carvalho Almeida Ribeiro Ferreira Barbosa Rocha Dubois Lefèvre Moreau Laurent Girard Bonnet
    Fontaine Rousseau Chevalier Mercier Faure Gauthier Müller Schmidt Schneider Fischer Weber
    Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Schröder Neumann Zimmermann
    Braun Krüger Hofmann Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco
    Bruno Gallo Conti DeLuca Mancini deVries Jansen deJong Bakker Visser Smit Meijer
    Mulder Bos Vos Hendriks Johansson Andersson Karlsson Nilsson Eriksson Larsson Olsen Hansen
    Jensen Pedersen Nielsen Kristensen Virtanen Korhonen Nowak Kowalski Wiśniewski Wójcik
    Kamiński Lewandowski Zieliński Ivanov Smirnov Kuznetsov Popov Volkov Sokolov Lebedev Kozlov
    Novak Horvat Kovačević Petrović Jovanović Papadopoulos Georgiou Nikolaidis Yılmaz Kaya Demir
    Şahin Çelik Aydın Öztürk Patel Sharma Singh Kumar Gupta Reddy Iyer Nair Menon Rao Joshi Desai
    Mehta Kapoor Chatterjee Banerjee Mukherjee Pillai Agarwal Malhotra Wang Li Zhang Liu Chen Yang
    Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo Tanaka Suzuki Takahashi Watanabe Ito
    Yamamoto Nakamura Kobayashi Sato Kato Yoshida Yamada Sasaki Matsumoto Inoue Kimura Kim Park
    Choi Jung Kang Cho Yoon Jang Lim Han Tran Le Pham Hoang Phan Vu Dang Bui Do Ho Ngo Duong
    Khan Ahmed Ali Hussain Rahman Hassan Ibrahim Mahmoud Abdullah Haddad Khalil Nasser Saleh
    Farouk Mansour Aziz Karimi Hosseini Rahimi Moradi Tehrani Okafor Okeke Adeyemi Balogun
    Eze Nwosu Mensah Owusu Boateng Asante Kamau Otieno Mwangi Njoroge Ochieng Wanjala Dlamini
    Nkosi Ndlovu Khumalo Mokoena Tshabalala Mbeki Haile Tesfaye Bekele Alemu Kealoha Kahale
    Ngata Parata Tipene
    """,  # noqa: RUF001 - the Turkish dotless i is meant
)

#: company names are "<A> <B> <C>": e.g. "Blue Harbor Analytics"
COMPANY_WORDS_A: tuple[str, ...] = _words(
    """
    Blue Red Green Silver Golden Iron Copper Crystal Bright Swift Clear True North South East West
    Summit Peak Harbor River Lake Ocean Coastal Pacific Atlantic Alpine Prairie Canyon Cedar Oak
    Maple Pine Willow Birch Aspen Sequoia Granite Quartz Cobalt Indigo Amber Scarlet Violet Crimson
    Azure Emerald Onyx Ivory Solar Lunar Stellar Nova Quantum Vector Apex Vertex Zenith Prime
    Nimble Bold Brave Noble Loyal Vivid Lucid Agile Rapid Steady Open Modern Urban Metro Global
    Unified Bluefin Redwood Starling Falcon Hawk Eagle Raven Fox Wolf Bear Lion Tiger Orca Heron
    Kestrel Osprey Sparrow Otter Badger Bison Lynx Cheetah Mosaic Prism Beacon Lantern Compass
    Anchor Keystone Cornerstone Bridge Gateway Harvest Meadow Orchard Evergreen Sterling Regal
    Pioneer Frontier Horizon Liberty Heritage Legacy Union Crescent Pinnacle Catalyst Fusion
    Ember Glacier Tundra Mesa Delta Sierra Juniper Magnolia Saffron Lotus
    """
)
COMPANY_WORDS_B: tuple[str, ...] = _words(
    """
    Harbor Ridge Stone Field Brook Point Bay Grove Valley Creek Rock Wave Leaf Light Path Works
    Forge Mill Gate Hill Port Wind Star Sky Cloud Spring Shore Wood Crest Peak Line Loop Labs
    Bridge Tower Haven Hollow Vale Ford Dale Marsh Glen Heath Moor Cliff Cove Isle Reef Sound
    Rise Falls Mountain Canyon Plains Fjord Summit Trail Road Way Street Square Circle Arc Orbit
    Pulse Spark Flame Bloom Root Branch Seed Sprout Thread Weave Loom Anvil Hammer Compass Arrow
    Shield Crown Key Lock Signal Beacon Engine Motor Gear Lever Wheel Sail Mast Keel Rudder Helm
    Quill Ink Page Scroll Canvas Frame Lens Mirror Prism Circuit Matrix Grid Node Core Stack
    Layer Vault Cellar Garden Meadow Orchard Pasture Acre Harvest Granary
    """
)
COMPANY_WORDS_C: tuple[str, ...] = _words(
    """
    Analytics Systems Solutions Technologies Software Labs Partners Group Holdings Ventures
    Consulting Logistics Health Capital Media Networks Dynamics Industries Robotics Energy Foods
    Pharma Bio Security Cloud Data Digital Studio Design Works Manufacturing Engineering Supply
    Trading Finance Insurance Realty Properties Hospitality Education Learning Retail Brands
    Apparel Motors Aviation Marine Telecom Wireless Semiconductors Materials Chemicals Textiles
    Furniture Agritech Biotech Fintech Medtech Insights Research Advisors Associates
    """
)

LEGAL_SUFFIXES: dict[str, tuple[str, ...]] = {
    "US": ("Inc.", "LLC", "Corp."),
    "CA": ("Inc.", "Ltd."),
    "GB": ("Ltd", "PLC", "LLP"),
    "IE": ("Ltd", "DAC"),
    "AU": ("Pty Ltd",),
    "NZ": ("Limited",),
    "DE": ("GmbH", "AG"),
    "FR": ("SAS", "SA"),
    "NL": ("B.V.",),
    "ES": ("S.L.", "S.A."),
    "IT": ("S.r.l.", "S.p.A."),
    "SE": ("AB",),
    "BR": ("Ltda.",),
    "IN": ("Pvt. Ltd.",),
    "JP": ("K.K.",),
    "SG": ("Pte. Ltd.",),
    "ZA": ("(Pty) Ltd",),
}


class Country(NamedTuple):
    code: str
    #: share of companies based there (relative weight)
    weight: int
    calling_code: str
    #: digit groups of a national phone number after the calling code
    phone_groups: tuple[int, ...]
    #: public suffixes its companies register under
    suffixes: tuple[str, ...]
    cities: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        40,
        "+1",
        (3, 3, 4),
        ("com", "com", "com", "io", "ai", "net", "co", "us"),
        (
            "New York",
            "San Francisco",
            "Austin",
            "Chicago",
            "Boston",
            "Seattle",
            "Denver",
            "Atlanta",
            "Los Angeles",
            "Miami",
            "Portland",
            "Nashville",
            "Raleigh",
            "Salt Lake City",
            "Minneapolis",
            "Philadelphia",
            "San Diego",
            "Pittsburgh",
            "Columbus",
            "Phoenix",
        ),
    ),
    Country(
        "CA",
        5,
        "+1",
        (3, 3, 4),
        ("ca", "com"),
        ("Toronto", "Vancouver", "Montréal", "Calgary", "Ottawa", "Waterloo"),
    ),
    Country(
        "GB",
        12,
        "+44",
        (2, 4, 4),
        ("co.uk", "co.uk", "com", "io", "org.uk"),
        (
            "London",
            "Manchester",
            "Edinburgh",
            "Bristol",
            "Leeds",
            "Glasgow",
            "Cambridge",
            "Birmingham",
            "Cardiff",
            "Belfast",
        ),
    ),
    Country("IE", 2, "+353", (1, 3, 4), ("ie", "com"), ("Dublin", "Cork", "Galway", "Limerick")),
    Country(
        "AU",
        5,
        "+61",
        (1, 4, 4),
        ("com.au", "com.au", "net.au", "io"),
        ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Canberra"),
    ),
    Country("NZ", 1, "+64", (1, 3, 4), ("co.nz", "nz"), ("Auckland", "Wellington", "Christchurch")),
    Country(
        "DE",
        8,
        "+49",
        (2, 4, 4),
        ("de", "de", "com", "io"),
        ("Berlin", "München", "Hamburg", "Köln", "Frankfurt am Main", "Stuttgart", "Düsseldorf", "Leipzig"),
    ),
    Country(
        "FR",
        6,
        "+33",
        (1, 2, 2, 2, 2),
        ("fr", "fr", "com", "io"),
        ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux", "Lille"),
    ),
    Country(
        "NL",
        3,
        "+31",
        (2, 3, 4),
        ("nl", "com", "io"),
        ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "Den Haag"),
    ),
    Country(
        "ES",
        3,
        "+34",
        (3, 3, 3),
        ("es", "com"),
        ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Málaga"),
    ),
    Country("IT", 2, "+39", (2, 4, 4), ("it", "com"), ("Milano", "Roma", "Torino", "Bologna", "Firenze")),
    Country("SE", 2, "+46", (2, 3, 2, 2), ("se", "com", "io"), ("Stockholm", "Göteborg", "Malmö", "Uppsala")),
    Country(
        "BR",
        3,
        "+55",
        (2, 5, 4),
        ("com.br", "com.br", "com"),
        ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Porto Alegre"),
    ),
    Country(
        "IN",
        5,
        "+91",
        (5, 5),
        ("in", "co.in", "com", "io"),
        ("Bengaluru", "Mumbai", "New Delhi", "Hyderabad", "Pune", "Chennai", "Gurugram"),
    ),
    Country(
        "JP", 2, "+81", (2, 4, 4), ("co.jp", "jp", "com"), ("Tokyo", "Osaka", "Yokohama", "Fukuoka", "Kyoto")
    ),
    Country("SG", 2, "+65", (4, 4), ("com.sg", "sg", "com"), ("Singapore",)),
    Country("ZA", 1, "+27", (2, 3, 4), ("co.za", "com"), ("Cape Town", "Johannesburg", "Durban", "Pretoria")),
)

#: every public suffix above with more than one label (a root domain has one label more)
MULTI_PART_SUFFIXES: frozenset[str] = frozenset(s for c in COUNTRIES for s in c.suffixes if "." in s)

#: subdomains seen in front of a company's root domain
SUBDOMAINS: tuple[str, ...] = ("uk", "eu", "us", "de", "app", "shop", "corp", "global", "en", "info", "go")

#: hosts for personal addresses; never a company's root domain
FREEMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "icloud.com",
    "proton.me",
    "gmx.de",
    "web.de",
    "orange.fr",
    "yahoo.co.uk",
    "qq.com",
    "naver.com",
    "yandex.ru",
)

JOB_TITLES: tuple[str, ...] = (
    "Chief Executive Officer",
    "Chief Technology Officer",
    "Chief Financial Officer",
    "Chief Operating Officer",
    "Chief Marketing Officer",
    "Chief Revenue Officer",
    "VP of Sales",
    "VP of Marketing",
    "VP of Engineering",
    "VP of Product",
    "VP of Customer Success",
    "Head of Growth",
    "Head of Partnerships",
    "Head of People",
    "Head of Data",
    "Director of Sales",
    "Director of Marketing",
    "Director of Engineering",
    "Director of Operations",
    "Director of Finance",
    "IT Director",
    "Sales Manager",
    "Account Executive",
    "Senior Account Executive",
    "Account Manager",
    "Sales Development Representative",
    "Business Development Manager",
    "Customer Success Manager",
    "Marketing Manager",
    "Product Marketing Manager",
    "Content Marketing Manager",
    "Demand Generation Manager",
    "Marketing Operations Manager",
    "Revenue Operations Manager",
    "Sales Operations Analyst",
    "Product Manager",
    "Senior Product Manager",
    "Product Designer",
    "UX Researcher",
    "Software Engineer",
    "Senior Software Engineer",
    "Staff Engineer",
    "Engineering Manager",
    "Data Scientist",
    "Data Engineer",
    "Data Analyst",
    "DevOps Engineer",
    "Site Reliability Engineer",
    "Security Engineer",
    "Solutions Architect",
    "Solutions Engineer",
    "IT Manager",
    "Systems Administrator",
    "Office Manager",
    "Executive Assistant",
    "HR Manager",
    "Talent Acquisition Partner",
    "Recruiter",
    "Controller",
    "Financial Analyst",
    "Accountant",
    "Procurement Manager",
    "Operations Manager",
    "Project Manager",
    "Program Manager",
    "Legal Counsel",
    "General Counsel",
    "Founder",
    "Co-Founder",
    "Managing Director",
    "Partner",
    "Consultant",
    "Senior Consultant",
    "Analyst",
    "Research Scientist",
    "Buyer",
    "Store Manager",
    "Plant Manager",
    "Supply Chain Manager",
    "Logistics Coordinator",
    "Customer Support Specialist",
)

#: employee counts are drawn from one of these ranges (weights favour small companies)
EMPLOYEE_RANGES: tuple[tuple[int, int, int], ...] = (
    (1, 10, 20),
    (11, 50, 30),
    (51, 200, 25),
    (201, 1000, 15),
    (1001, 5000, 7),
    (5001, 100_000, 3),
)
