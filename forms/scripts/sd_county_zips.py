#!/usr/bin/env python3
"""Generate the list of San Diego County ZIP codes as a CSV file.

What it does
    Selects every ZIP code whose state is "CA" and whose county is exactly
    "San Diego County" (the string the data set uses), sorts them by ZIP, and
    writes OUT_DIR/sd-county-zips.csv with the header

        zip,type,city,lat,lon

    - zip:  the 5-digit ZIP code.
    - type: standard | po_box | unique (the package's STANDARD / PO BOX /
            UNIQUE, lower-cased; any other type aborts the run).
    - city: the USPS primary city name for the ZIP, as given.
    - lat, lon: the ZIP's representative point, copied as given by the data
            (at most 4 decimals; anything longer would be rounded half-even
            to 4 decimals). Note that PO box and unique ZIPs often carry only
            an approximate city-centre point.

    The number of ZIPs written is printed. Output is UTF-8 with "\\n" line
    endings and no timestamp, so it is byte-identical across runs for the same
    package version.

Inactive ZIPs
    The data marks some ZIPs active=False (retired, or not in the USPS list of
    active delivery ZIPs). They are still San Diego County ZIP codes that
    people may have on old records, so they are INCLUDED. With zipcodes 3.0.0
    that is 9 of the 190: 91947, 91990, 92090, 92133, 92162, 92164, 92184,
    92190, 92194.

Source
    The PyPI package `zipcodes` (run with version 3.0.0), which embeds a US ZIP
    code data set built from public US ZIP data: a base ZIP database (type,
    city, county), GeoNames coordinates (CC BY 4.0) and the USPS ZIP Locale
    Detail list of active ZIPs. The package republishes monthly, so another
    version may give slightly different rows; the version used is printed.

How to rerun
    python3 -m venv /tmp/zipvenv
    /tmp/zipvenv/bin/pip install -q 'zipcodes==3.0.0'
    /tmp/zipvenv/bin/python forms/scripts/sd_county_zips.py content/data
"""

import csv
import os
import sys
from decimal import ROUND_HALF_EVEN, Decimal

import zipcodes

STATE = "CA"
COUNTY = "San Diego County"
EXPECTED_VERSION = "3.0.0"
OUT_NAME = "sd-county-zips.csv"
HEADER = ["zip", "type", "city", "lat", "lon"]
TYPES = {"STANDARD": "standard", "PO BOX": "po_box", "UNIQUE": "unique"}


def fmt_coord(value):
    """Return the coordinate string as given, rounded to 4 decimals if longer."""
    if value is None or str(value).strip() == "":
        return ""
    d = Decimal(str(value).strip())
    if d.as_tuple().exponent < -4:
        d = d.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
    return str(d)


def select_rows():
    everything = zipcodes.list_all()
    # Guard against the county string changing spelling in a future release.
    similar = {
        z["county"]
        for z in everything
        if z["state"] == STATE and "san diego" in (z["county"] or "").lower()
    }
    if similar != {COUNTY}:
        sys.exit("unexpected San Diego county strings in data: %r" % sorted(similar))

    rows = []
    for z in everything:
        if z["state"] != STATE or z["county"] != COUNTY:
            continue
        kind = TYPES.get(z["zip_code_type"])
        if kind is None:
            sys.exit("unexpected zip_code_type %r for %s" % (z["zip_code_type"], z["zip_code"]))
        rows.append([z["zip_code"], kind, z["city"], fmt_coord(z["lat"]), fmt_coord(z["long"])])
    rows.sort(key=lambda r: r[0])

    zips = [r[0] for r in rows]
    if len(set(zips)) != len(zips):
        sys.exit("duplicate ZIP codes in selection")
    for zip_code in zips:
        if not (len(zip_code) == 5 and zip_code.isdigit()):
            sys.exit("malformed ZIP code %r" % zip_code)
    return rows


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: python3 sd_county_zips.py OUT_DIR")
    out_dir = argv[1]
    if zipcodes.__version__ != EXPECTED_VERSION:
        print(
            "warning: zipcodes %s in use; the checked-in CSV was made with %s"
            % (zipcodes.__version__, EXPECTED_VERSION),
            file=sys.stderr,
        )

    rows = select_rows()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, OUT_NAME)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    os.replace(tmp, path)
    print("%d ZIP codes in %s (zipcodes %s) -> %s" % (len(rows), COUNTY, zipcodes.__version__, path))


if __name__ == "__main__":
    main(sys.argv)
