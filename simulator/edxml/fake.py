"""Realistic fake edXML data: a Faker provider (locale vi_VN), seeded for reproducibility.

Agencies come from fixed tables: the 22 bodies of the Government (18 ministries, 3 ministry-level
agencies and the Government Office) and all 63 provinces and centrally-run cities, with their public
names. **Only the Government Office's code ``000.00.00.G22`` and the spec's examples are real agency
codes.** Every other level-1 code (ministries ``G01``–``G21`` in the Government's order, provinces
``H01``–``H63`` in the order of the statistics office's province list), every sub-unit number, every
address, phone number, e-mail and web domain is simulated: plausible, stable for a given code, and
not to be mistaken for the national directory (QĐ 20/2020/QĐ-TTg).

Codes are hierarchical without gaps (QD28-10.2.a): a sub-unit of a level-1 body fills level 2
(``000.00.03.H27``), a sub-unit of that fills level 3 (``000.02.03.H27``), then level 4
(``001.02.03.H27``). :func:`describe_agency` turns any code built here back into its names.

Document types are numbered in the order of the list of administrative document types of
Nghị định 30/2020/NĐ-CP (Article 7); the numeric edXML ``Type`` values of real hubs are not known,
so these numbers are simulated too.

Use :func:`make_faker` to get a seeded ``Faker`` and :func:`edxml_provider` to reach the typed
provider (``Faker`` itself does not know the provider's methods statically).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from faker import Faker
from faker.providers import BaseProvider

from simulator.edxml.model import DocumentType, Organization, Priority, SignerInfo, StaffInfo

__all__ = [
    "DOCUMENT_KINDS",
    "MINISTRIES",
    "PROVINCES",
    "AgencyInfo",
    "DocumentKind",
    "EdxmlProvider",
    "agency_short",
    "ascii_slug",
    "describe_agency",
    "document_type_for_notation",
    "edxml_provider",
    "make_faker",
    "type_abbreviation",
]


# ---------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class _Level1:
    code: str  # level-1 group, e.g. "G22"
    name: str  # "Văn phòng Chính phủ"
    short: str  # notation short, e.g. "VPCP"
    domain: str  # simulated web/e-mail domain (ASCII)
    head: str  # title of the head, upper case as printed on a signature block
    deputy: str  # title of a deputy
    collective: str | None = None  # "ỦY BAN NHÂN DÂN" for provinces (signs "TM. ...")
    place: str = "Hà Nội"  # PromulgationInfo/Place
    is_city: bool = False


@dataclass(frozen=True, slots=True)
class _Unit:
    number: int  # the group's number at its level
    name: str
    short: str
    head: str
    deputy: str


def _ministry(
    n: int, name: str, short: str, domain: str, head: str = "BỘ TRƯỞNG", deputy: str = "THỨ TRƯỞNG"
) -> _Level1:
    return _Level1(f"G{n:02d}", name, short, domain, head, deputy)


#: The Government's 22 bodies (2021–2025 cabinet). Only G22 (Văn phòng Chính phủ) is a real code.
MINISTRIES: tuple[_Level1, ...] = (
    _ministry(1, "Bộ Quốc phòng", "BQP", "mod.gov.vn"),
    _ministry(2, "Bộ Công an", "BCA", "bocongan.gov.vn"),
    _ministry(3, "Bộ Ngoại giao", "BNG", "mofa.gov.vn"),
    _ministry(4, "Bộ Nội vụ", "BNV", "moha.gov.vn"),
    _ministry(5, "Bộ Tư pháp", "BTP", "moj.gov.vn"),
    _ministry(6, "Bộ Kế hoạch và Đầu tư", "BKHĐT", "mpi.gov.vn"),
    _ministry(7, "Bộ Tài chính", "BTC", "mof.gov.vn"),
    _ministry(8, "Bộ Công Thương", "BCT", "moit.gov.vn"),
    _ministry(9, "Bộ Nông nghiệp và Phát triển nông thôn", "BNNPTNT", "mard.gov.vn"),
    _ministry(10, "Bộ Giao thông vận tải", "BGTVT", "mt.gov.vn"),
    _ministry(11, "Bộ Xây dựng", "BXD", "moc.gov.vn"),
    _ministry(12, "Bộ Tài nguyên và Môi trường", "BTNMT", "monre.gov.vn"),
    _ministry(13, "Bộ Thông tin và Truyền thông", "BTTTT", "mic.gov.vn"),
    _ministry(14, "Bộ Lao động - Thương binh và Xã hội", "BLĐTBXH", "molisa.gov.vn"),
    _ministry(15, "Bộ Văn hóa, Thể thao và Du lịch", "BVHTTDL", "bvhttdl.gov.vn"),
    _ministry(16, "Bộ Khoa học và Công nghệ", "BKHCN", "most.gov.vn"),
    _ministry(17, "Bộ Giáo dục và Đào tạo", "BGDĐT", "moet.gov.vn"),
    _ministry(18, "Bộ Y tế", "BYT", "moh.gov.vn"),
    _ministry(
        19, "Ủy ban Dân tộc", "UBDT", "ubdt.gov.vn", "BỘ TRƯỞNG, CHỦ NHIỆM", "THỨ TRƯỞNG, PHÓ CHỦ NHIỆM"
    ),
    _ministry(20, "Ngân hàng Nhà nước Việt Nam", "NHNN", "sbv.gov.vn", "THỐNG ĐỐC", "PHÓ THỐNG ĐỐC"),
    _ministry(21, "Thanh tra Chính phủ", "TTCP", "thanhtra.gov.vn", "TỔNG THANH TRA", "PHÓ TỔNG THANH TRA"),
    _ministry(22, "Văn phòng Chính phủ", "VPCP", "chinhphu.vn", "BỘ TRƯỞNG, CHỦ NHIỆM", "PHÓ CHỦ NHIỆM"),
)

_CITIES = frozenset({"Hà Nội", "Hải Phòng", "Đà Nẵng", "Hồ Chí Minh", "Cần Thơ"})

#: Provinces in the order of the statistics office's list (codes 01 … 96); level-1 codes simulated.
_PROVINCE_NAMES: tuple[str, ...] = (
    "Hà Nội",
    "Hà Giang",
    "Cao Bằng",
    "Bắc Kạn",
    "Tuyên Quang",
    "Lào Cai",
    "Điện Biên",
    "Lai Châu",
    "Sơn La",
    "Yên Bái",
    "Hòa Bình",
    "Thái Nguyên",
    "Lạng Sơn",
    "Quảng Ninh",
    "Bắc Giang",
    "Phú Thọ",
    "Vĩnh Phúc",
    "Bắc Ninh",
    "Hải Dương",
    "Hải Phòng",
    "Hưng Yên",
    "Thái Bình",
    "Hà Nam",
    "Nam Định",
    "Ninh Bình",
    "Thanh Hóa",
    "Nghệ An",
    "Hà Tĩnh",
    "Quảng Bình",
    "Quảng Trị",
    "Thừa Thiên Huế",
    "Đà Nẵng",
    "Quảng Nam",
    "Quảng Ngãi",
    "Bình Định",
    "Phú Yên",
    "Khánh Hòa",
    "Ninh Thuận",
    "Bình Thuận",
    "Kon Tum",
    "Gia Lai",
    "Đắk Lắk",
    "Đắk Nông",
    "Lâm Đồng",
    "Bình Phước",
    "Tây Ninh",
    "Bình Dương",
    "Đồng Nai",
    "Bà Rịa - Vũng Tàu",
    "Hồ Chí Minh",
    "Long An",
    "Tiền Giang",
    "Bến Tre",
    "Trà Vinh",
    "Vĩnh Long",
    "Đồng Tháp",
    "An Giang",
    "Kiên Giang",
    "Cần Thơ",
    "Hậu Giang",
    "Sóc Trăng",
    "Bạc Liêu",
    "Cà Mau",
)


def ascii_slug(text: str, sep: str = "") -> str:
    """``"Bà Rịa - Vũng Tàu"`` → ``"bariavungtau"``: lower-case ASCII letters and digits only."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = ["".join(ch for ch in w if ch.isascii() and ch.isalnum()) for w in plain.lower().split()]
    return sep.join(w for w in words if w)


def _province(n: int, name: str) -> _Level1:
    city = name in _CITIES
    kind = "thành phố" if city else "tỉnh"
    place = f"TP. {name}" if name == "Hồ Chí Minh" else name
    return _Level1(
        f"H{n:02d}",
        f"UBND {kind} {name}",
        "UBND",
        f"{ascii_slug(name)}.gov.vn",
        "CHỦ TỊCH",
        "PHÓ CHỦ TỊCH",
        collective="ỦY BAN NHÂN DÂN",
        place=place,
        is_city=city,
    )


PROVINCES: tuple[_Level1, ...] = tuple(_province(i, n) for i, n in enumerate(_PROVINCE_NAMES, start=1))
_LEVEL1_BY_CODE: dict[str, _Level1] = {e.code: e for e in (*MINISTRIES, *PROVINCES)}

_MINISTRY_UNITS: tuple[_Unit, ...] = (
    _Unit(1, "Văn phòng", "VP", "CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG"),
    _Unit(2, "Vụ Pháp chế", "PC", "VỤ TRƯỞNG", "PHÓ VỤ TRƯỞNG"),
    _Unit(3, "Vụ Tổ chức cán bộ", "TCCB", "VỤ TRƯỞNG", "PHÓ VỤ TRƯỞNG"),
    _Unit(4, "Vụ Kế hoạch - Tài chính", "KHTC", "VỤ TRƯỞNG", "PHÓ VỤ TRƯỞNG"),
    _Unit(5, "Vụ Hợp tác quốc tế", "HTQT", "VỤ TRƯỞNG", "PHÓ VỤ TRƯỞNG"),
    _Unit(6, "Thanh tra", "TTr", "CHÁNH THANH TRA", "PHÓ CHÁNH THANH TRA"),
    _Unit(7, "Trung tâm Công nghệ thông tin", "TTCNTT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
)
_MINISTRY_SPECIFIC: dict[str, tuple[_Unit, ...]] = {
    "G07": (
        _Unit(10, "Tổng cục Thuế", "TCT", "TỔNG CỤC TRƯỞNG", "PHÓ TỔNG CỤC TRƯỞNG"),
        _Unit(11, "Kho bạc Nhà nước", "KBNN", "TỔNG GIÁM ĐỐC", "PHÓ TỔNG GIÁM ĐỐC"),
        _Unit(12, "Vụ Ngân sách nhà nước", "NSNN", "VỤ TRƯỞNG", "PHÓ VỤ TRƯỞNG"),
    ),
    "G22": (
        _Unit(10, "Cổng Thông tin điện tử Chính phủ", "TTĐT", "TỔNG GIÁM ĐỐC", "PHÓ TỔNG GIÁM ĐỐC"),
        _Unit(11, "Cục Kiểm soát thủ tục hành chính", "KSTT", "CỤC TRƯỞNG", "PHÓ CỤC TRƯỞNG"),
        _Unit(12, "Vụ Tổng hợp", "TH", "VỤ TRƯỞNG", "PHÓ VỤ TRƯỞNG"),
    ),
    "G04": (
        _Unit(10, "Cục Văn thư và Lưu trữ nhà nước", "VTLTNN", "CỤC TRƯỞNG", "PHÓ CỤC TRƯỞNG"),
        _Unit(11, "Vụ Chính quyền địa phương", "CQĐP", "VỤ TRƯỞNG", "PHÓ VỤ TRƯỞNG"),
    ),
    "G13": (
        _Unit(10, "Cục An toàn thông tin", "CATTT", "CỤC TRƯỞNG", "PHÓ CỤC TRƯỞNG"),
        _Unit(11, "Cục Chuyển đổi số quốc gia", "CĐSQG", "CỤC TRƯỞNG", "PHÓ CỤC TRƯỞNG"),
    ),
    "G18": (_Unit(10, "Cục Quản lý Dược", "QLD", "CỤC TRƯỞNG", "PHÓ CỤC TRƯỞNG"),),
}
_PROVINCE_UNITS: tuple[_Unit, ...] = (
    _Unit(1, "Văn phòng UBND", "VPUBND", "CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG"),
    _Unit(2, "Sở Nội vụ", "SNV", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(3, "Sở Tài chính", "STC", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(4, "Sở Kế hoạch và Đầu tư", "SKHĐT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(5, "Sở Tư pháp", "STP", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(6, "Sở Công Thương", "SCT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(7, "Sở Xây dựng", "SXD", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(8, "Sở Giao thông vận tải", "SGTVT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(9, "Sở Tài nguyên và Môi trường", "STNMT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(10, "Sở Nông nghiệp và Phát triển nông thôn", "SNNPTNT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(11, "Sở Y tế", "SYT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(12, "Sở Giáo dục và Đào tạo", "SGDĐT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(13, "Sở Thông tin và Truyền thông", "STTTT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(14, "Sở Lao động - Thương binh và Xã hội", "SLĐTBXH", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(15, "Sở Văn hóa, Thể thao và Du lịch", "SVHTTDL", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(16, "Sở Khoa học và Công nghệ", "SKHCN", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    _Unit(17, "Thanh tra tỉnh", "TTr", "CHÁNH THANH TRA", "PHÓ CHÁNH THANH TRA"),
)
_LEVEL3_UNITS: tuple[_Unit, ...] = (
    _Unit(1, "Văn phòng", "VP", "CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG"),
    _Unit(2, "Phòng Tổ chức cán bộ", "TCCB", "TRƯỞNG PHÒNG", "PHÓ TRƯỞNG PHÒNG"),
    _Unit(3, "Phòng Kế hoạch - Tài chính", "KHTC", "TRƯỞNG PHÒNG", "PHÓ TRƯỞNG PHÒNG"),
    _Unit(4, "Phòng Pháp chế", "PC", "TRƯỞNG PHÒNG", "PHÓ TRƯỞNG PHÒNG"),
    _Unit(5, "Trung tâm Công nghệ thông tin", "TTCNTT", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
)
_LEVEL4_UNITS: tuple[_Unit, ...] = (
    _Unit(1, "Tổ Văn thư", "VT", "TỔ TRƯỞNG", "TỔ PHÓ"),
    _Unit(2, "Bộ phận Một cửa", "MC", "TỔ TRƯỞNG", "TỔ PHÓ"),
    _Unit(3, "Tổ Tổng hợp", "TH", "TỔ TRƯỞNG", "TỔ PHÓ"),
)


def _level2_units(level1: _Level1) -> tuple[_Unit, ...]:
    if level1.code.startswith("H"):
        return _PROVINCE_UNITS
    return _MINISTRY_UNITS + _MINISTRY_SPECIFIC.get(level1.code, ())


def _units_at(level: int, level1: _Level1) -> tuple[_Unit, ...]:
    if level == 2:
        return _level2_units(level1)
    return _LEVEL3_UNITS if level == 3 else _LEVEL4_UNITS


@dataclass(frozen=True, slots=True)
class DocumentKind:
    type: int  # simulated numeric Type: position in NĐ 30/2020 Art. 7
    name: str  # TypeName
    abbreviation: str | None  # in the notation ("QĐ-UBND"); None for Công văn ("UBND-KT")
    weight: float  # share in generated traffic


DOCUMENT_KINDS: tuple[DocumentKind, ...] = (
    DocumentKind(2, "Quyết định", "QĐ", 12),
    DocumentKind(3, "Chỉ thị", "CT", 2),
    DocumentKind(7, "Thông báo", "TB", 8),
    DocumentKind(8, "Hướng dẫn", "HD", 3),
    DocumentKind(10, "Kế hoạch", "KH", 6),
    DocumentKind(14, "Báo cáo", "BC", 7),
    DocumentKind(16, "Tờ trình", "TTr", 5),
    DocumentKind(18, "Công văn", None, 50),
    DocumentKind(19, "Công điện", "CĐ", 2),
    DocumentKind(23, "Giấy mời", "GM", 5),
)
_KIND_BY_NAME = {k.name: k for k in DOCUMENT_KINDS}

_PRIORITY_WEIGHTS: tuple[tuple[Priority, float], ...] = (
    (Priority.NORMAL, 80),
    (Priority.URGENT, 12),
    (Priority.VERY_URGENT, 4),
    (Priority.FLASH, 3),
    (Priority.FLASH_TIMED, 1),
)

# Family names with rough shares of the population (percent).
_FAMILY = (
    ("Nguyễn", 38),
    ("Trần", 11),
    ("Lê", 9.5),
    ("Phạm", 7),
    ("Hoàng", 5),
    ("Huỳnh", 4),
    ("Phan", 4.5),
    ("Vũ", 4),
    ("Võ", 3.9),
    ("Đặng", 2.1),
    ("Bùi", 2),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1),
    ("Lý", 0.5),
    ("Đinh", 0.6),
    ("Trương", 0.6),
    ("Lương", 0.4),
    ("Mai", 0.4),
)
_MIDDLE_M = ("Văn", "Hữu", "Đức", "Minh", "Quang", "Thành", "Công", "Xuân", "Mạnh", "Tiến", "Ngọc", "Anh")
_MIDDLE_F = ("Thị", "Thị", "Thị", "Thu", "Ngọc", "Thanh", "Minh", "Hồng", "Kim", "Phương")
_GIVEN_M = (
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hải",
    "Hùng",
    "Huy",
    "Khánh",
    "Long",
    "Nam",
    "Phong",
    "Quân",
    "Sơn",
    "Thắng",
    "Trung",
    "Tuấn",
    "Việt",
    "Hiếu",
    "Đạt",
    "Tâm",
    "Hòa",
    "Lâm",
    "Thịnh",
    "Vinh",
)
_GIVEN_F = (
    "Anh",
    "Hà",
    "Hằng",
    "Hạnh",
    "Hoa",
    "Hương",
    "Lan",
    "Linh",
    "Mai",
    "Nga",
    "Ngọc",
    "Phương",
    "Thảo",
    "Trang",
    "Vân",
    "Yến",
    "Dung",
    "Thủy",
    "Huyền",
    "Loan",
    "Nhung",
    "Quyên",
)
_STREETS = (
    "Trần Hưng Đạo",
    "Lê Lợi",
    "Nguyễn Huệ",
    "Quang Trung",
    "Hùng Vương",
    "Lý Thường Kiệt",
    "Hai Bà Trưng",
    "Nguyễn Trãi",
    "Lê Duẩn",
    "Điện Biên Phủ",
    "Trần Phú",
    "Lê Hồng Phong",
    "Nguyễn Du",
    "Phan Đình Phùng",
    "Ngô Quyền",
    "Lý Thái Tổ",
)
_HANOI_DISTRICTS = ("Ba Đình", "Hoàn Kiếm", "Đống Đa", "Hai Bà Trưng", "Cầu Giấy", "Tây Hồ")
_DEPARTMENTS_NOTATION = (
    "VP",
    "TH",
    "KT",
    "KTTH",
    "NC",
    "VX",
    "TCCB",
    "PC",
    "QHQT",
    "HC",
    "CNTT",
    "KSTT",
    "TTĐT",
    "QLNS",
)
_STAFF_DEPARTMENTS = (
    "Văn thư",
    "Phòng Hành chính - Tổng hợp",
    "Văn phòng",
    "Phòng Tổ chức - Hành chính",
    "Bộ phận Văn thư - Lưu trữ",
)
_SUBJECT_ACTIONS = (
    "triển khai thực hiện",
    "hướng dẫn thực hiện",
    "góp ý dự thảo văn bản về",
    "báo cáo kết quả thực hiện",
    "đôn đốc thực hiện",
    "tăng cường",
    "tổ chức thực hiện",
    "rà soát, đánh giá",
    "cung cấp thông tin về",
    "tham gia ý kiến đối với dự thảo về",
    "đề nghị phối hợp thực hiện",
)
_SUBJECT_TOPICS = (
    "Nghị định số 30/2020/NĐ-CP về công tác văn thư",
    "Quyết định số 28/2018/QĐ-TTg về gửi, nhận văn bản điện tử giữa các cơ quan",
    "Chỉ thị số 15/CT-TTg về tăng cường sử dụng văn bản điện tử",
    "công tác chuyển đổi số",
    "dự toán ngân sách nhà nước",
    "công tác phòng, chống thiên tai và tìm kiếm cứu nạn",
    "công tác cải cách hành chính",
    "kế hoạch đầu tư công trung hạn",
    "công tác tổ chức cán bộ",
    "bảo đảm an toàn thông tin mạng",
    "cung cấp dịch vụ công trực tuyến trên Cổng Dịch vụ công quốc gia",
    "thực hành tiết kiệm, chống lãng phí",
    "công tác phòng, chống tham nhũng, tiêu cực",
    "quản lý, sử dụng tài sản công",
    "công tác thi đua, khen thưởng",
)
_SUBJECT_PERIODS = (
    "",
    " năm {year}",
    " 6 tháng đầu năm {year}",
    " quý {q} năm {year}",
    " trên địa bàn {place}",
    " giai đoạn 2021 - 2025",
)

SUBJECT_MAX = 500  # EDXML-LEN
# Heads of units large enough to have their own office (văn phòng), whose chief signs "TL. <head>".
_HEADS_WITH_OFFICE = frozenset({"GIÁM ĐỐC", "CỤC TRƯỞNG", "TỔNG CỤC TRƯỞNG", "TỔNG GIÁM ĐỐC"})
_PDF_TAIL = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _pdf_head(length: int) -> bytes:
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length "
        + str(length).encode()
        + (b" /Filter /FlateDecode >>\nstream\n")
    )


# ---------------------------------------------------------------- describing codes


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    """What the tables say about an agency code built here (see :func:`describe_agency`)."""

    code: str
    level: int  # 1–4
    name: str
    short: str  # notation short of the issuing body: a ministry's for its units, a province's department's
    unit_short: str | None  # the unit's own short (levels 2–4), e.g. "TCT"
    parent_name: str | None  # OrganizationInCharge
    place: str
    domain: str
    head: str
    deputy: str
    collective: str | None  # set for a province's level 1 ("ỦY BAN NHÂN DÂN")
    is_province: bool


def _split(code: str) -> tuple[int, int, int, str] | None:
    parts = code.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts[:3]):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2]), parts[3]


def _format_code(l4: int, l3: int, l2: int, level1: str) -> str:
    return f"{l4:03d}.{l3:02d}.{l2:02d}.{level1}"


def _unit_named(units: tuple[_Unit, ...], number: int) -> _Unit | None:
    return next((u for u in units if u.number == number), None)


def describe_agency(code: str) -> AgencyInfo | None:
    """Names and titles for a code from the tables, or None when the tables do not know it."""
    split = _split(code.strip())
    if split is None:
        return None
    l4, l3, l2, l1code = split
    level1 = _LEVEL1_BY_CODE.get(l1code)
    if level1 is None or (l3 and not l2) or (l4 and not l3):
        return None
    info = AgencyInfo(
        code=code.strip(),
        level=1,
        name=level1.name,
        short=level1.short,
        unit_short=None,
        parent_name="Chính phủ" if not level1.code.startswith("H") else None,
        place=level1.place,
        domain=level1.domain,
        head=level1.head,
        deputy=level1.deputy,
        collective=level1.collective,
        is_province=level1.code.startswith("H"),
    )
    suffix = f" {level1.name.removeprefix('UBND ')}" if info.is_province else ""
    for level, number in ((2, l2), (3, l3), (4, l4)):
        if not number:
            break
        unit = _unit_named(_units_at(level, level1), number)
        if unit is None:
            return None
        if level == 2:
            name = f"{unit.name}{suffix}" if info.is_province else f"{unit.name}, {level1.name}"
            short = unit.short if info.is_province else level1.short  # "STC-…" but "BTC-TCT"
        else:
            name = f"{unit.name}, {info.name}"
            short = info.short
        info = AgencyInfo(
            code=info.code,
            level=level,
            name=name,
            short=short,
            unit_short=unit.short,
            parent_name=info.name,
            place=info.place,
            domain=info.domain,
            head=unit.head,
            deputy=unit.deputy,
            collective=None,
            is_province=info.is_province,
        )
    return info


def agency_short(org: Organization) -> str:
    """Notation short for an organization (``BTC``, ``UBND``, ``STC`` …); from the tables when the code
    is known, otherwise the initials of its name (``"Cơ quan X"`` → ``"CQX"``)."""
    info = describe_agency(org.organ_id)
    if info is not None:
        return info.short
    words = [w for w in (org.organ_name or "").split() if w[:1].isalpha() and w.lower() != "và"]
    initials = "".join(w[0].upper() for w in words)
    return initials or "CQ"


def document_type_for_notation(notation: str) -> DocumentType:
    """The document type a notation announces (``QĐ-UBND`` → Quyết định); Công văn otherwise."""
    head = notation.split("-", 1)[0]
    kind = next((k for k in DOCUMENT_KINDS if k.abbreviation == head), _KIND_BY_NAME["Công văn"])
    return DocumentType(type=kind.type, type_detail=0, type_name=kind.name)


def type_abbreviation(document_type: DocumentType) -> str | None:
    """Notation abbreviation of a document type (``Quyết định`` → ``QĐ``); None for Công văn/unknown."""
    kind = _KIND_BY_NAME.get(document_type.type_name or "")
    return kind.abbreviation if kind else None


# ---------------------------------------------------------------- the provider


class EdxmlProvider(BaseProvider):
    """Faker provider of agencies, signers, subjects, codes and payloads for edXML packages."""

    @property
    def _rnd(self) -> random.Random:
        rnd: random.Random = self.generator.random
        return rnd

    # -- people

    def full_name_vn(self, female: bool | None = None) -> str:
        """A Vietnamese full name, family name first (``Nguyễn Thị Thu Hà``)."""
        r = self._rnd
        if female is None:
            female = r.random() < 0.45
        family = r.choices([f for f, _ in _FAMILY], weights=[w for _, w in _FAMILY])[0]
        middle = r.choice(_MIDDLE_F if female else _MIDDLE_M)
        given = r.choice(_GIVEN_F if female else _GIVEN_M)
        if r.random() < 0.15:  # four-part names are common
            extra = r.choice(_MIDDLE_F[3:] if female else _MIDDLE_M[3:])
            if extra != middle:
                middle = f"{middle} {extra}"
        return f"{family} {middle} {given}"

    def mobile_vn(self) -> str:
        r = self._rnd
        prefix = r.choice(("090", "091", "093", "094", "096", "097", "098", "086", "088", "083", "035"))
        return f"{prefix}{r.randrange(10**7):07d}"

    def staff(self, org: Organization | None = None) -> StaffInfo:
        """A clerk (văn thư) of ``org`` (or of some agency): department, name, mobile, e-mail."""
        name = self.full_name_vn()
        parts = ascii_slug(name, sep=" ").split()
        local = "".join(p[0] for p in parts[:-1]) + parts[-1]
        domain = describe_agency(org.organ_id) if org else None
        dom = domain.domain if domain else self._rnd.choice(PROVINCES).domain
        return StaffInfo(
            department=self._rnd.choice(_STAFF_DEPARTMENTS),
            staff=name,
            mobile=self.mobile_vn(),
            email=f"{local}@{dom}",
        )

    def signer(self, org: Organization | None = None) -> SignerInfo:
        """A signature block consistent with ``org``'s kind (ministry, province, sub-unit)."""
        r = self._rnd
        info = describe_agency(org.organ_id) if org else None
        if info is None:
            info = describe_agency(_format_code(0, 0, 0, r.choice((*MINISTRIES, *PROVINCES)).code))
            assert info is not None  # every level-1 code of the tables is described
        roll = r.random()
        if info.level == 1 and info.collective:  # provinces: TM. ỦY BAN NHÂN DÂN / KT. CHỦ TỊCH
            if roll < 0.35:
                competence, position = f"TM. {info.collective}", info.head
            else:
                competence, position = f"KT. {info.head}", info.deputy
        elif info.level == 1:
            if roll < 0.25:
                competence, position = info.head, info.head
            elif roll < 0.75:
                competence, position = f"KT. {info.head}", info.deputy
            else:
                unit = r.choice(_MINISTRY_UNITS)
                competence, position = f"TL. {info.head}", f"{unit.head} {unit.name.upper()}"
                if unit.name.upper() in unit.head:  # "CHÁNH VĂN PHÒNG", not "… VĂN PHÒNG VĂN PHÒNG"
                    position = unit.head
        elif roll < 0.4:
            competence, position = info.head, info.head
        elif roll < 0.85 or info.head not in _HEADS_WITH_OFFICE:
            competence, position = f"KT. {info.head}", info.deputy
        else:  # signed by the head of the unit's office on the head's behalf
            competence, position = f"TL. {info.head}", "CHÁNH VĂN PHÒNG"
        return SignerInfo(competence=competence, position=position, full_name=self.full_name_vn())

    # -- agencies

    def _organization(self, info: AgencyInfo) -> Organization:
        r = self._rnd
        number = r.randint(1, 199)
        street = r.choice(_STREETS)
        if info.is_province:
            level1 = _LEVEL1_BY_CODE[info.code[-3:]]
            region = f"{'thành phố' if level1.is_city else 'tỉnh'} {level1.place.removeprefix('TP. ')}"
            address = f"Số {number} {street}, {region}"
        else:
            address = f"Số {number} {street}, quận {r.choice(_HANOI_DISTRICTS)}, Hà Nội"
        if info.level == 1:
            local = "vpubnd" if info.is_province else "vanthu"
        else:
            local = ascii_slug(info.unit_short or info.short)
            if info.level > 2:
                local = f"{local}.{ascii_slug(info.short)}"
        area = self._area_code(info)
        tail = r.randrange(10**7 if len(area) == 4 else 10**8)
        phone = f"{area} {tail:07d}" if len(area) == 4 else f"{area} {tail:08d}"
        return Organization(
            organ_id=info.code,
            organ_name=info.name,
            organization_in_charge=info.parent_name,
            organ_add=address,
            email=f"{local}@{info.domain}",
            telephone=phone,
            fax=None,
            website=f"https://{info.domain}" if info.level == 1 else None,
        )

    @staticmethod
    def _area_code(info: AgencyInfo) -> str:
        if not info.is_province or info.place == "Hà Nội":
            return "024"
        if info.place == "TP. Hồ Chí Minh":
            return "028"
        index = int(info.code[-2:])  # simulated but stable per province
        return f"02{(index * 7) % 90 + 10:02d}"

    def ministry(self) -> Organization:
        """A level-1 government body (``000.00.00.G07`` Bộ Tài chính …)."""
        level1 = self._rnd.choice(MINISTRIES)
        return self.agency_for(_format_code(0, 0, 0, level1.code))

    def province_agency(self) -> Organization:
        """A province's people's committee (``000.00.00.H18`` UBND tỉnh Bắc Ninh …).

        Not named ``province``: vi_VN's address provider has a ``province()`` (a string) that its own
        ``address()`` formats use, and a provider method of the same name would replace it.
        """
        level1 = self._rnd.choice(PROVINCES)
        return self.agency_for(_format_code(0, 0, 0, level1.code))

    def sub_unit(self, parent: Organization) -> Organization:
        """A unit directly under ``parent``: fills the next level to the left of the deepest one set.

        Raises ValueError when ``parent``'s code is not one of the tables' or is already level 4.
        """
        info = describe_agency(parent.organ_id)
        split = _split(parent.organ_id.strip())
        if info is None or split is None:
            raise ValueError(
                f"agency code {parent.organ_id!r} is not in the simulated directory; sub_unit() needs a "
                "parent made by this provider (QD28-10.2.a)"
            )
        if info.level == 4:
            raise ValueError(f"agency code {parent.organ_id!r} is already level 4; there is no level 5")
        l4, l3, l2, l1 = split
        unit = self._rnd.choice(_units_at(info.level + 1, _LEVEL1_BY_CODE[l1]))
        groups = [l4, l3, l2]
        groups[3 - info.level] = unit.number  # new level 2 → index 2, level 3 → 1, level 4 → 0
        return self.agency_for(_format_code(groups[0], groups[1], groups[2], l1))

    def agency(self) -> Organization:
        """Any agency, mixed like real traffic: mostly provincial departments and ministries."""
        roll = self._rnd.random()
        if roll < 0.2:
            return self.ministry()
        if roll < 0.4:
            return self.province_agency()
        if roll < 0.75:
            return self.sub_unit(self.province_agency())
        if roll < 0.93:
            return self.sub_unit(self.ministry())
        return self.sub_unit(self.sub_unit(self._rnd.choice((self.province_agency, self.ministry))()))

    def agency_for(self, code: str) -> Organization:
        """The organization for ``code``: names from the tables when known, else a generic name."""
        info = describe_agency(code)
        if info is None:
            return Organization(organ_id=code.strip(), organ_name=f"Cơ quan {code.strip()}")
        return self._organization(info)

    # -- document metadata

    def subject(self) -> str:
        """A trích yếu in the "V/v …" form, at most 500 characters (EDXML-LEN)."""
        r = self._rnd
        place = r.choice(PROVINCES).name.removeprefix("UBND ")
        period = r.choice(_SUBJECT_PERIODS).format(year=r.randint(2019, 2026), q=r.randint(1, 4), place=place)
        text = f"V/v {r.choice(_SUBJECT_ACTIONS)} {r.choice(_SUBJECT_TOPICS)}{period}"
        return text[:SUBJECT_MAX]

    def document_number(self) -> str:
        """The sequence number of a document in its year (CodeNumber), ASCII digits."""
        return str(self._rnd.randint(1, 8000))

    def notation(self, agency_short: str) -> str:
        """A Công văn notation: issuing body's short + drafting department (``UBND-KT``, ``BTC-TCT``)."""
        return f"{agency_short}-{self._rnd.choice(_DEPARTMENTS_NOTATION)}"

    def document_notation(self, org: Organization, document_type: DocumentType) -> str:
        """The notation for a document of ``document_type`` from ``org``: ``QĐ-UBND``, ``UBND-KT`` …"""
        short = agency_short(org)
        abbreviation = type_abbreviation(document_type)
        if abbreviation:
            return f"{abbreviation}-{short}"
        info = describe_agency(org.organ_id)
        if info is not None and info.unit_short and info.unit_short != short:
            return f"{short}-{info.unit_short}"  # the drafting unit: BTC-TCT, STC-KHTC
        return self.notation(short)

    def document_type(self) -> DocumentType:
        """A document type with its (simulated) numeric Type; Công văn about half the time."""
        kind = self._rnd.choices(DOCUMENT_KINDS, weights=[k.weight for k in DOCUMENT_KINDS])[0]
        return DocumentType(type=kind.type, type_detail=0, type_name=kind.name)

    def priority(self) -> Priority:
        """Độ khẩn with a realistic mix: about 80 % normal, 12 % khẩn, the rest rarer."""
        priorities = [p for p, _ in _PRIORITY_WEIGHTS]
        return self._rnd.choices(priorities, weights=[w for _, w in _PRIORITY_WEIGHTS])[0]

    def attachment_bytes(self, size: int) -> bytes:
        """Exactly ``size`` bytes shaped like a PDF (header, one compressed-looking stream, EOF).

        The stream is pseudo-random (as deflated content is), so it neither compresses in the ZIP
        wrapper nor costs more than one ``randbytes`` call.
        """
        if size < 0:
            raise ValueError(f"attachment size must be at least 0 bytes, not {size}")
        tail = _PDF_TAIL
        body_len = max(size - len(_pdf_head(size)) - len(tail), 0)  # /Length: at most len(str(size)) digits
        header = _pdf_head(body_len)
        if len(header) + len(tail) >= size:  # too small for the frame: a truncated PDF header
            return (header + tail)[:size]
        pad = size - len(header) - body_len - len(tail)  # the digits saved by a shorter /Length
        return header + self._rnd.randbytes(body_len) + b"\n" * pad + tail


# ---------------------------------------------------------------- factory


def make_faker(seed: int | None = None) -> Faker:
    """A ``Faker("vi_VN")`` with :class:`EdxmlProvider` registered, seeded (None: fresh entropy).

    The instance has its own random generator, so it never disturbs (or depends on) another Faker.
    """
    fake = Faker("vi_VN")
    fake.add_provider(EdxmlProvider)
    fake.seed_instance(seed)
    return fake


def edxml_provider(fake: Faker) -> EdxmlProvider:
    """The registered :class:`EdxmlProvider` of ``fake`` (registering one if missing), typed."""
    for provider in fake.get_providers():
        if isinstance(provider, EdxmlProvider):
            return provider
    fake.add_provider(EdxmlProvider)
    return edxml_provider(fake)
