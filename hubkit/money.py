"""Money is Decimal, never float. Amounts are rounded half-up to the cent."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

CENT = Decimal("0.01")
COST_PLACES = Decimal("0.000001")
RATE_PLACES = 8  # an exchange rate: units of the books' currency per unit of another
NANOS = 10**9

# ISO 4217 codes of the currencies in circulation (funds, metals and test codes left out).
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG
XOF XPF YER ZAR ZMW ZWG
""".split())


def to_decimal(value) -> Decimal:
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a string or Decimal")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


def cents(value) -> Decimal:
    """Round half-up to 0.01, the precision of every posted amount."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def unit_cost(value) -> Decimal:
    """Unit costs keep six decimal places."""
    return to_decimal(value).quantize(COST_PLACES, rounding=ROUND_HALF_UP)


def split_vat(gross, rate) -> tuple[Decimal, Decimal]:
    """VAT-inclusive gross -> (net, tax), computed per line: net rounded, tax the rest."""
    gross = cents(gross)
    net = cents(gross / (1 + to_decimal(rate)))
    return net, gross - net


def share(total, units: int, of: int) -> Decimal:
    """The share of `total` that `units` of `of` units carry, to the cent. Taken cumulatively (the
    share of all units returned so far less the share of those returned before), partial shares
    add up to exactly the total and never more."""
    if not 0 <= units <= of or of <= 0:
        raise ValueError(f"{units} of {of} units")
    return cents(to_decimal(total) * units / of)


def allocate(total, weights) -> list[Decimal]:
    """`total` (to the cent, either sign) split over `weights` (>= 0, not all 0) in proportion, by
    largest remainder: each part is its exact share cut down to the cent, and the cents still
    missing go one each to the parts with the largest cut-off remainders (ties: the earlier part).
    The parts add up to exactly the total; a zero weight gets 0.00; no part is more than a cent
    from its exact share. ValueError for a negative weight, all-zero weights or no weights."""
    amount = cents(total)
    shares = [to_decimal(w) for w in weights]
    if not shares or any(w < 0 for w in shares) or sum(shares) == 0:
        raise ValueError("weights must be >= 0 and not all zero")
    sign, units = (-1 if amount < 0 else 1), int(abs(amount) * 100)
    whole = sum(shares)
    exact = [Fraction(units) * Fraction(w) / Fraction(whole) for w in shares]  # exact, no rounding
    floors = [int(e) for e in exact]  # e >= 0: int() cuts down
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:units - sum(floors)]:
        floors[i] += 1
    return [Decimal(sign * f).scaleb(-2) for f in floors]


def exchange_rate(value) -> Decimal:
    """A rate to the books' currency: > 0 with at most RATE_PLACES decimals; ValueError otherwise."""
    rate = to_decimal(value)
    if not 0 < rate < 10**6 or rate != rate.quantize(Decimal(1).scaleb(-RATE_PLACES)):
        raise ValueError(f"an exchange rate is > 0 and < 1000000 with at most {RATE_PLACES} decimals")
    return rate


def convert(amount, rate) -> Decimal:
    """An amount in another currency in the books' currency at `rate`, to the cent."""
    return cents(to_decimal(amount) * to_decimal(rate))


def to_units_nanos(value) -> tuple[int, int]:
    """Decimal -> (units, nanos) as in the Money message; both carry the sign."""
    value = to_decimal(value)
    units = int(value)  # truncates toward zero
    nanos = int((value - units) * NANOS)
    return units, nanos


def from_units_nanos(units: int, nanos: int) -> Decimal:
    if units and nanos and (units > 0) != (nanos > 0):
        raise ValueError("units and nanos must have the same sign")
    if abs(nanos) >= NANOS:
        raise ValueError("nanos out of range")
    return Decimal(units) + Decimal(nanos) / NANOS


def to_proto(value, currency: str = "CNY"):
    from hubapi.common.v1 import money_pb2

    units, nanos = to_units_nanos(value)
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def from_proto(money) -> Decimal:
    return from_units_nanos(money.units, money.nanos)
