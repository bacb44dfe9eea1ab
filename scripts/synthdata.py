#!/usr/bin/python3
"""Synthetic beneficiary dossiers for demos, tests and benchmarks.

Every record is invented from a seeded random generator: no real person's
data is used anywhere in this project. Output is JSON Lines, one
{"collection": C, "id": ID, "record": {...}} per line.

    scripts/synthdata.py --count 1000 --seed 7 > records.jsonl
"""
import argparse
import json
import random
import sys

HO = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
      "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
DEM_NAM = ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành", "Công", "Xuân"]
DEM_NU = ["Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Hồng", "Bích"]
TEN_NAM = ["An", "Bình", "Cường", "Dũng", "Hùng", "Khánh", "Long", "Nam", "Phúc",
           "Quang", "Sơn", "Tài", "Thắng", "Trung", "Việt", "Vinh"]
TEN_NU = ["Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh",
          "Mai", "Nga", "Nhung", "Phương", "Thảo", "Trang", "Yến"]
# Province code (first 3 digits of a citizen ID), province, districts.
TINH = [
    ("001", "Hà Nội", ["Ba Vì", "Sóc Sơn", "Thạch Thất"]),
    ("038", "Thanh Hóa", ["Nga Sơn", "Quảng Xương", "Thọ Xuân"]),
    ("040", "Nghệ An", ["Diễn Châu", "Nam Đàn", "Yên Thành"]),
    ("044", "Quảng Bình", ["Bố Trạch", "Lệ Thủy", "Quảng Ninh"]),
    ("045", "Quảng Trị", ["Gio Linh", "Hải Lăng", "Vĩnh Linh"]),
    ("083", "Bến Tre", ["Ba Tri", "Giồng Trôm", "Mỏ Cày Nam"]),
]
XA = ["Xã Hòa Bình", "Xã Tân Lập", "Xã Quyết Thắng", "Xã Đồng Tâm", "Thị trấn Phú Lộc",
      "Xã Thuận Thành", "Xã An Phú"]
BANKS = [("Agribank", 13), ("VietinBank", 12), ("BIDV", 14), ("Vietcombank", 10)]
# collection, id prefix, categories with a monthly allowance range (VND).
COLLECTIONS = [
    ("nguoi-co-cong", "NCC", [
        ("Thân nhân liệt sĩ", 2_055_000, 4_110_000),
        ("Thương binh", 1_500_000, 5_800_000),
        ("Bệnh binh", 1_700_000, 5_300_000),
        ("Người hoạt động kháng chiến bị nhiễm chất độc hóa học", 2_100_000, 4_600_000),
        ("Bà mẹ Việt Nam anh hùng", 6_200_000, 6_200_000),
    ]),
    ("bao-tro-xa-hoi", "BTXH", [
        ("Người cao tuổi từ đủ 80 tuổi", 500_000, 500_000),
        ("Người khuyết tật nặng", 750_000, 1_000_000),
        ("Người đơn thân nghèo nuôi con", 500_000, 1_000_000),
    ]),
    ("ho-ngheo", "HN", [("Hộ nghèo", 300_000, 600_000), ("Hộ cận nghèo", 200_000, 400_000)]),
    ("tre-em", "TE", [
        ("Trẻ em mồ côi cả cha và mẹ", 1_000_000, 1_500_000),
        ("Trẻ em khuyết tật", 750_000, 1_000_000),
    ]),
]
SUC_KHOE = ["Bình thường", "Bệnh mãn tính", "Khuyết tật vận động", "Khiếm thị",
            "Suy giảm trí nhớ", "Cao huyết áp"]


def citizen_id(rng, province, female, year):
    # Digit 4 encodes sex and century (0/1 for 1900s, 2/3 for 2000s).
    century = 0 if year < 2000 else 2
    return "%s%d%02d%06d" % (province, century + int(female), year % 100, rng.randrange(10 ** 6))


def person(rng, collection):
    female = rng.random() < 0.5
    name = " ".join([rng.choice(HO), rng.choice(DEM_NU if female else DEM_NAM),
                     rng.choice(TEN_NU if female else TEN_NAM)])
    year = rng.randrange(2008, 2020) if collection == "tre-em" else rng.randrange(1925, 1975)
    code, tinh, huyen = rng.choice(TINH)
    return female, name, year, code, tinh, huyen


def record(rng, collection, categories):
    female, name, year, code, tinh, huyen = person(rng, collection)
    category, low, high = rng.choice(categories)
    bank, digits = rng.choice(BANKS)
    allowance = low if low == high else rng.randrange(low // 1000, high // 1000 + 1) * 1000
    rec = {
        "ho_ten": name,
        "gioi_tinh": "Nữ" if female else "Nam",
        "ngay_sinh": "%04d-%02d-%02d" % (year, rng.randrange(1, 13), rng.randrange(1, 29)),
        "so_cccd": citizen_id(rng, code, female, year),
        "dia_chi": "%s, huyện %s, tỉnh %s" % (rng.choice(XA), rng.choice(huyen), tinh),
        "doi_tuong": category,
        "tinh_trang_suc_khoe": rng.choice(SUC_KHOE),
        "tro_cap_hang_thang_vnd": allowance,
        "tai_khoan": {"ngan_hang": bank,
                      "so_tai_khoan": "".join(str(rng.randrange(10)) for _ in range(digits))},
    }
    if category == "Thương binh":
        rec["ty_le_ton_thuong"] = "%d%%" % rng.randrange(21, 95)
    return rec


def generate(count, seed):
    """Yields (collection, id, record) for count invented beneficiaries."""
    rng = random.Random(seed)
    for n in range(count):
        collection, prefix, categories = COLLECTIONS[n % len(COLLECTIONS)]
        yield collection, "%s-2024-%06d" % (prefix, n + 1), record(rng, collection, categories)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    for collection, rid, rec in generate(args.count, args.seed):
        sys.stdout.write(json.dumps({"collection": collection, "id": rid, "record": rec},
                                    ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
