"""HubSpot's default property definitions for contacts and companies (a representative subset).

Names, types, field types, groups and enumeration options follow a fresh HubSpot portal. Properties
marked ``calculated`` are computed by the sandbox on read (``hs_object_id``, ``createdate``,
``lastmodifieddate`` ...); ``read_only`` ones are stored but cannot be written through the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hubsync.hubspot_model.objects import HubSpotObjectName

PropertyType = Literal["string", "number", "date", "datetime", "enumeration", "bool", "phone_number"]


@dataclass(frozen=True, slots=True)
class Option:
    label: str
    value: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Property:
    """One property definition, as ``/crm/v3/properties`` describes it."""

    name: str
    label: str
    type: PropertyType
    field_type: str
    group_name: str
    options: tuple[Option, ...] = ()
    description: str = ""
    display_order: int = -1
    has_unique_value: bool = False
    hidden: bool = False
    form_field: bool = False
    hubspot_defined: bool = True
    calculated: bool = False
    read_only: bool = False
    external_options: bool = False
    archived: bool = False
    created_ms: int = 0
    updated_ms: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def option_values(self) -> frozenset[str]:
        return frozenset(o.value for o in self.options)


@dataclass(frozen=True, slots=True)
class PropertyGroup:
    name: str
    label: str
    display_order: int = -1
    archived: bool = False


def _opts(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(label=label, value=value, display_order=i) for i, (value, label) in enumerate(pairs))


def _s(name: str, label: str, group: str, **kw: Any) -> Property:
    return Property(name=name, label=label, type="string", field_type="text", group_name=group, **kw)


def _n(name: str, label: str, group: str, **kw: Any) -> Property:
    return Property(name=name, label=label, type="number", field_type="number", group_name=group, **kw)


def _dt(name: str, label: str, group: str, **kw: Any) -> Property:
    return Property(name=name, label=label, type="datetime", field_type="date", group_name=group, **kw)


def _enum(name: str, label: str, group: str, options: tuple[Option, ...], **kw: Any) -> Property:
    return Property(
        name=name,
        label=label,
        type="enumeration",
        field_type="select",
        group_name=group,
        options=options,
        **kw,
    )


LIFECYCLE_STAGES = _opts(
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)
LEAD_STATUSES = _opts(
    ("NEW", "New"),
    ("OPEN", "Open"),
    ("IN_PROGRESS", "In Progress"),
    ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"),
    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
    ("CONNECTED", "Connected"),
    ("BAD_TIMING", "Bad Timing"),
)
#: the options of HubSpot's default company property ``industry`` (values as HubSpot has them)
INDUSTRY_VALUES: tuple[str, ...] = (
    "ACCOUNTING",
    "AIRLINES_AVIATION",
    "ALTERNATIVE_DISPUTE_RESOLUTION",
    "ALTERNATIVE_MEDICINE",
    "ANIMATION",
    "APPAREL_FASHION",
    "ARCHITECTURE_PLANNING",
    "ARTS_AND_CRAFTS",
    "AUTOMOTIVE",
    "AVIATION_AEROSPACE",
    "BANKING",
    "BIOTECHNOLOGY",
    "BROADCAST_MEDIA",
    "BUILDING_MATERIALS",
    "BUSINESS_SUPPLIES_AND_EQUIPMENT",
    "CAPITAL_MARKETS",
    "CHEMICALS",
    "CIVIC_SOCIAL_ORGANIZATION",
    "CIVIL_ENGINEERING",
    "COMMERCIAL_REAL_ESTATE",
    "COMPUTER_NETWORK_SECURITY",
    "COMPUTER_GAMES",
    "COMPUTER_HARDWARE",
    "COMPUTER_NETWORKING",
    "COMPUTER_SOFTWARE",
    "INTERNET",
    "CONSTRUCTION",
    "CONSUMER_ELECTRONICS",
    "CONSUMER_GOODS",
    "CONSUMER_SERVICES",
    "COSMETICS",
    "DAIRY",
    "DEFENSE_SPACE",
    "DESIGN",
    "EDUCATION_MANAGEMENT",
    "E_LEARNING",
    "ELECTRICAL_ELECTRONIC_MANUFACTURING",
    "ENTERTAINMENT",
    "ENVIRONMENTAL_SERVICES",
    "EVENTS_SERVICES",
    "EXECUTIVE_OFFICE",
    "FACILITIES_SERVICES",
    "FARMING",
    "FINANCIAL_SERVICES",
    "FINE_ART",
    "FISHERY",
    "FOOD_BEVERAGES",
    "FOOD_PRODUCTION",
    "FUND_RAISING",
    "FURNITURE",
    "GAMBLING_CASINOS",
    "GLASS_CERAMICS_CONCRETE",
    "GOVERNMENT_ADMINISTRATION",
    "GOVERNMENT_RELATIONS",
    "GRAPHIC_DESIGN",
    "HEALTH_WELLNESS_AND_FITNESS",
    "HIGHER_EDUCATION",
    "HOSPITAL_HEALTH_CARE",
    "HOSPITALITY",
    "HUMAN_RESOURCES",
    "IMPORT_AND_EXPORT",
    "INDIVIDUAL_FAMILY_SERVICES",
    "INDUSTRIAL_AUTOMATION",
    "INFORMATION_SERVICES",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "INSURANCE",
    "INTERNATIONAL_AFFAIRS",
    "INTERNATIONAL_TRADE_AND_DEVELOPMENT",
    "INVESTMENT_BANKING",
    "INVESTMENT_MANAGEMENT",
    "JUDICIARY",
    "LAW_ENFORCEMENT",
    "LAW_PRACTICE",
    "LEGAL_SERVICES",
    "LEGISLATIVE_OFFICE",
    "LEISURE_TRAVEL_TOURISM",
    "LIBRARIES",
    "LOGISTICS_AND_SUPPLY_CHAIN",
    "LUXURY_GOODS_JEWELRY",
    "MACHINERY",
    "MANAGEMENT_CONSULTING",
    "MARITIME",
    "MARKET_RESEARCH",
    "MARKETING_AND_ADVERTISING",
    "MECHANICAL_OR_INDUSTRIAL_ENGINEERING",
    "MEDIA_PRODUCTION",
    "MEDICAL_DEVICES",
    "MEDICAL_PRACTICE",
    "MENTAL_HEALTH_CARE",
    "MILITARY",
    "MINING_METALS",
    "MOTION_PICTURES_AND_FILM",
    "MUSEUMS_AND_INSTITUTIONS",
    "MUSIC",
    "NANOTECHNOLOGY",
    "NEWSPAPERS",
    "NON_PROFIT_ORGANIZATION_MANAGEMENT",
    "OIL_ENERGY",
    "ONLINE_MEDIA",
    "OUTSOURCING_OFFSHORING",
    "PACKAGE_FREIGHT_DELIVERY",
    "PACKAGING_AND_CONTAINERS",
    "PAPER_FOREST_PRODUCTS",
    "PERFORMING_ARTS",
    "PHARMACEUTICALS",
    "PHILANTHROPY",
    "PHOTOGRAPHY",
    "PLASTICS",
    "POLITICAL_ORGANIZATION",
    "PRIMARY_SECONDARY_EDUCATION",
    "PRINTING",
    "PROFESSIONAL_TRAINING_COACHING",
    "PROGRAM_DEVELOPMENT",
    "PUBLIC_POLICY",
    "PUBLIC_RELATIONS_AND_COMMUNICATIONS",
    "PUBLIC_SAFETY",
    "PUBLISHING",
    "RAILROAD_MANUFACTURE",
    "RANCHING",
    "REAL_ESTATE",
    "RECREATIONAL_FACILITIES_AND_SERVICES",
    "RELIGIOUS_INSTITUTIONS",
    "RENEWABLES_ENVIRONMENT",
    "RESEARCH",
    "RESTAURANTS",
    "RETAIL",
    "SECURITY_AND_INVESTIGATIONS",
    "SEMICONDUCTORS",
    "SHIPBUILDING",
    "SPORTING_GOODS",
    "SPORTS",
    "STAFFING_AND_RECRUITING",
    "SUPERMARKETS",
    "TELECOMMUNICATIONS",
    "TEXTILES",
    "THINK_TANKS",
    "TOBACCO",
    "TRANSLATION_AND_LOCALIZATION",
    "TRANSPORTATION_TRUCKING_RAILROAD",
    "UTILITIES",
    "VENTURE_CAPITAL_PRIVATE_EQUITY",
    "VETERINARY",
    "WAREHOUSING",
    "WHOLESALE",
    "WINE_AND_SPIRITS",
    "WIRELESS",
    "WRITING_AND_EDITING",
    "MOBILE_GAMES",
)
_INDUSTRY_LABELS = {
    "ACCOUNTING": "Accounting",
    "AIRLINES_AVIATION": "Airlines/Aviation",
    "APPAREL_FASHION": "Apparel & Fashion",
    "AUTOMOTIVE": "Automotive",
    "BANKING": "Banking",
    "BIOTECHNOLOGY": "Biotechnology",
    "COMPUTER_HARDWARE": "Computer Hardware",
    "COMPUTER_NETWORK_SECURITY": "Computer & Network Security",
    "COMPUTER_SOFTWARE": "Computer Software",
    "CONSTRUCTION": "Construction",
    "CONSUMER_ELECTRONICS": "Consumer Electronics",
    "EDUCATION_MANAGEMENT": "Education Management",
    "FINANCIAL_SERVICES": "Financial Services",
    "HOSPITAL_HEALTH_CARE": "Hospital & Health Care",
    "INFORMATION_TECHNOLOGY_AND_SERVICES": "Information Technology and Services",
    "INSURANCE": "Insurance",
    "INTERNET": "Internet",
    "MANAGEMENT_CONSULTING": "Management Consulting",
    "MARKETING_AND_ADVERTISING": "Marketing and Advertising",
    "REAL_ESTATE": "Real Estate",
    "RETAIL": "Retail",
    "TELECOMMUNICATIONS": "Telecommunications",
}
INDUSTRIES = _opts(*((v, _INDUSTRY_LABELS.get(v, v.replace("_", " ").title())) for v in INDUSTRY_VALUES))
COMPANY_TYPES = _opts(
    ("PROSPECT", "Prospect"),
    ("PARTNER", "Partner"),
    ("RESELLER", "Reseller"),
    ("VENDOR", "Vendor"),
    ("OTHER", "Other"),
)
ANALYTICS_SOURCES = _opts(
    ("ORGANIC_SEARCH", "Organic Search"),
    ("PAID_SEARCH", "Paid Search"),
    ("EMAIL_MARKETING", "Email Marketing"),
    ("SOCIAL_MEDIA", "Organic Social"),
    ("REFERRALS", "Referrals"),
    ("OTHER_CAMPAIGNS", "Other Campaigns"),
    ("DIRECT_TRAFFIC", "Direct Traffic"),
    ("OFFLINE", "Offline Sources"),
    ("PAID_SOCIAL", "Paid Social"),
)

_CI = "contactinformation"
_CO = "companyinformation"
_RO: dict[str, Any] = {"read_only": True}
_CALC: dict[str, Any] = {"read_only": True, "calculated": True}


def _common(group: str, modified: str) -> list[Property]:
    return [
        _n("hs_object_id", "Record ID", group, **_CALC),
        _dt("createdate", "Create Date", group, **_CALC),
        _dt(modified, "Last Modified Date", group, **_CALC),
        _s("hs_merged_object_ids", "Merged Record IDs", group, **_RO),
        Property(
            name="hubspot_owner_id",
            label="Contact owner" if group == _CI else "Company owner",
            type="enumeration",
            field_type="select",
            group_name=group,
            external_options=True,
        ),
        _enum("lifecyclestage", "Lifecycle Stage", group, LIFECYCLE_STAGES),
        _s("city", "City", group),
        _s("state", "State/Region", group),
        _s("zip", "Postal Code", group),
        _s("country", "Country/Region", group),
        _s("address", "Street Address", group),
        Property(
            name="phone", label="Phone Number", type="string", field_type="phonenumber", group_name=group
        ),
        _s("website", "Website URL", group),
    ]


CONTACT_PROPERTIES: tuple[Property, ...] = (
    *_common(_CI, "lastmodifieddate"),
    _s("email", "Email", _CI, extra={"textDisplayHint": "email"}),
    _s("hs_additional_emails", "Additional email addresses", _CI, **_RO),
    _s("hs_email_domain", "Email Domain", _CI, **_CALC),
    _s("firstname", "First Name", _CI),
    _s("lastname", "Last Name", _CI),
    Property(
        name="mobilephone",
        label="Mobile Phone Number",
        type="string",
        field_type="phonenumber",
        group_name=_CI,
    ),
    _s("company", "Company Name", _CI),
    _s("jobtitle", "Job Title", _CI),
    _s("industry", "Industry", _CI),
    _s("hs_linkedin_url", "LinkedIn URL", _CI),
    _s("fax", "Fax Number", _CI),
    _n("associatedcompanyid", "Primary Associated Company ID", _CI, **_CALC),
    _enum("hs_lead_status", "Lead Status", _CI, LEAD_STATUSES),
    _enum("hs_analytics_source", "Original Source", "analyticsinformation", ANALYTICS_SOURCES, **_RO),
    Property(name="date_of_birth", label="Date of birth", type="date", field_type="date", group_name=_CI),
    Property(
        name="hs_marketable_until_renewal",
        label="Marketing contact until next update",
        type="enumeration",
        field_type="booleancheckbox",
        group_name=_CI,
        options=_opts(("true", "Yes"), ("false", "No")),
        read_only=True,
    ),
)

COMPANY_PROPERTIES: tuple[Property, ...] = (
    *_common(_CO, "hs_lastmodifieddate"),
    _s("name", "Company name", _CO),
    _s("domain", "Company Domain Name", _CO, extra={"textDisplayHint": "domain_name"}),
    _enum("industry", "Industry", _CO, INDUSTRIES),
    _enum("type", "Type", _CO, COMPANY_TYPES),
    _n("numberofemployees", "Number of Employees", _CO),
    _n("annualrevenue", "Annual Revenue", _CO),
    _n("num_associated_contacts", "Number of Associated Contacts", _CO, **_CALC),
    _s("description", "Description", _CO),
    _s("founded_year", "Year Founded", _CO),
    _s("linkedin_company_page", "LinkedIn Company Page", "social_media_information"),
    _s("timezone", "Time Zone", _CO),
    Property(
        name="is_public",
        label="Is Public",
        type="bool",
        field_type="booleancheckbox",
        group_name=_CO,
        options=_opts(("true", "True"), ("false", "False")),
    ),
)

DEFAULT_GROUPS: dict[HubSpotObjectName, tuple[PropertyGroup, ...]] = {
    "contact": (
        PropertyGroup(_CI, "Contact information", 0),
        PropertyGroup("analyticsinformation", "Web analytics history", 1),
        PropertyGroup("emailinformation", "Email information", 2),
    ),
    "company": (
        PropertyGroup(_CO, "Company information", 0),
        PropertyGroup("social_media_information", "Social media information", 1),
        PropertyGroup("analyticsinformation", "Web analytics history", 2),
    ),
}

DEFAULT_PROPERTIES: dict[HubSpotObjectName, tuple[Property, ...]] = {
    "contact": CONTACT_PROPERTIES,
    "company": COMPANY_PROPERTIES,
}

#: properties returned when a read names none (HubSpot's documented defaults)
DEFAULT_READ_PROPERTIES: dict[HubSpotObjectName, tuple[str, ...]] = {
    "contact": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "company": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
}

#: properties the search ``query`` looks at
SEARCHABLE_PROPERTIES: dict[HubSpotObjectName, tuple[str, ...]] = {
    "contact": (
        "firstname",
        "lastname",
        "email",
        "phone",
        "hs_additional_emails",
        "fax",
        "mobilephone",
        "company",
    ),
    "company": ("website", "phone", "name", "domain"),
}
