"""Indonesian first, English on request: one small message catalogue, no gettext toolchain.

Each message is (Bahasa Indonesia, English). The language comes from the ``lang`` cookie set by
the switch in every page's header; anything else means Indonesian.
"""

from __future__ import annotations

from flask import request

LANGS = ("id", "en")
DEFAULT = "id"
COOKIE = "lang"

MESSAGES: dict[str, tuple[str, str]] = {
    # layout
    "site.name": ("PSrE — Layanan Sertifikat Elektronik", "PSrE — Electronic Certificate Service"),
    "nav.verify": ("Verifikasi PDF", "Verify a PDF"),
    "nav.repository": ("Repositori CA", "CA repository"),
    "nav.status": ("Status layanan", "Service status"),
    "nav.console": ("Konsol operator", "Operator console"),
    "nav.cps": ("CP/CPS", "CP/CPS"),
    "lang.switch": ("English", "Bahasa Indonesia"),
    "footer": (
        "Semua waktu dalam UTC. Halaman ini tidak memuat skrip atau gaya dari pihak ketiga.",
        "All times are UTC. This page loads no third-party scripts or styles.",
    ),
    # verify
    "verify.title": ("Verifikasi dokumen PDF bertanda tangan", "Verify a signed PDF document"),
    "verify.lead": (
        "Unggah PDF untuk memeriksa tanda tangan elektroniknya. Berkas tidak disimpan setelah "
        "hasil ditampilkan.",
        "Upload a PDF to check its electronic signatures. The file is not kept after the "
        "answer is shown.",
    ),
    "verify.file": ("Berkas PDF", "PDF file"),
    "verify.submit": ("Periksa", "Check"),
    "verify.result": ("Hasil verifikasi", "Verification result"),
    "verify.VALID": ("Dokumen sah", "Document valid"),
    "verify.INVALID": ("Dokumen tidak sah", "Document not valid"),
    "verify.NO_SIGNATURE": ("Tidak ada tanda tangan", "No signature"),
    "verify.VALID.lead": (
        "Semua tanda tangan utuh, dibuat dengan sertifikat PSrE ini yang berlaku, dan dokumen "
        "tidak diubah setelah ditandatangani.",
        "Every signature is intact, made with a valid certificate of this PSrE, and the "
        "document was not changed after signing.",
    ),
    "verify.INVALID.lead": (
        "Setidaknya satu tanda tangan tidak dapat diterima. Rinciannya di bawah.",
        "At least one signature cannot be accepted. The details are below.",
    ),
    "verify.NO_SIGNATURE.lead": (
        "Berkas ini tidak memuat tanda tangan elektronik.",
        "This file contains no electronic signature.",
    ),
    "verify.file_name": ("Berkas", "File"),
    "verify.signature": ("Tanda tangan", "Signature"),
    "verify.signer": ("Penanda tangan", "Signer"),
    "verify.agency": ("Instansi", "Agency"),
    "verify.psre": ("PSrE (diakui PSrE Induk)", "PSrE (recognized by the PSrE Induk)"),
    "verify.nik": ("NIK", "NIK"),
    "verify.signing_time": ("Waktu penandatanganan", "Signing time"),
    "verify.timestamp": ("Cap waktu", "Timestamp"),
    "verify.no_timestamp": ("tidak ada", "none"),
    "verify.cert_status": ("Status sertifikat", "Certificate status"),
    "verify.serial": ("Nomor seri sertifikat", "Certificate serial"),
    "verify.intact": ("Tanda tangan utuh", "Signature intact"),
    "verify.modified": ("Diubah setelah ditandatangani", "Changed after signing"),
    "verify.trusted": ("Terpercaya (rantai ke root PSrE)", "Trusted (chains to the PSrE root)"),
    "verify.level": ("Tingkat PAdES", "PAdES level"),
    "verify.problems": ("Masalah", "Problems"),
    "verify.sig_valid": ("sah", "valid"),
    "verify.sig_invalid": ("tidak sah", "not valid"),
    "verify.not_pdf": (
        "Berkas ini bukan PDF yang dapat dibaca.",
        "This file is not a readable PDF.",
    ),
    "verify.failed": (
        "Berkas ini tidak dapat diverifikasi (PDF rusak atau tidak didukung).",
        "This file could not be verified (a damaged or unsupported PDF).",
    ),
    "verify.no_file": ("Pilih berkas PDF terlebih dahulu.", "Choose a PDF file first."),
    "verify.too_complex": (
        "Berkas ini terlalu rumit untuk diverifikasi di sini (melebihi batas halaman, kolom "
        "tanda tangan, waktu atau memori).",
        "This file is too complex to verify here (over the page, signature-field, time or "
        "memory limit).",
    ),
    "verify.busy": (
        "Layanan verifikasi sedang sibuk. Silakan coba lagi sebentar lagi.",
        "The verification service is busy. Please try again shortly.",
    ),
    "verify.too_many": (
        "Terlalu banyak verifikasi sekaligus dari alamat Anda. Tunggu hingga selesai.",
        "Too many verifications at once from your address. Wait for them to finish.",
    ),
    "verify.chain": ("Jalur sertifikat", "Certificate paths"),
    "verify.chain.role": ("Peran", "Role"),
    "verify.chain.cert": ("Sertifikat", "Certificate"),
    "verify.chain.then": ("Status pada waktu yang berlaku", "Status at the time that counts"),
    "verify.chain.now": ("Status sekarang", "Status now"),
    "verify.role.signer": ("Penanda tangan", "Signer"),
    "verify.role.signer-ca": ("CA penanda tangan", "Signer's CA"),
    "verify.role.tsa": ("Otoritas cap waktu (TSA)", "Time-stamping authority (TSA)"),
    "verify.role.tsa-ca": ("CA dari TSA", "TSA's CA"),
    # the signer sets their passphrase (enrolment code)
    "pass.title": ("Tetapkan passphrase tanda tangan", "Set your signing passphrase"),
    "pass.lead": (
        "Masukkan kode aktivasi yang dikirim kepada Anda, lalu pilih passphrase Anda sendiri. "
        "Hanya Anda yang mengetahuinya: petugas PSrE dan aplikasi tidak pernah melihatnya, dan "
        "tidak akan pernah memintanya.",
        "Enter the activation code sent to you, then choose your own passphrase. Only you know "
        "it: PSrE staff and applications never see it, and will never ask for it.",
    ),
    "pass.code": ("Kode aktivasi", "Activation code"),
    "pass.passphrase": (
        "Passphrase baru (minimal 8 karakter)",
        "New passphrase (8 characters or more)",
    ),
    "pass.repeat": ("Ulangi passphrase", "Repeat the passphrase"),
    "pass.submit": ("Simpan passphrase", "Save the passphrase"),
    "pass.done": (
        "Passphrase Anda tersimpan. Gunakan untuk menandatangani dokumen; kode aktivasi tidak "
        "berlaku lagi.",
        "Your passphrase is saved. Use it to sign documents; the activation code no longer works.",
    ),
    "pass.bad_code": (
        "Kode aktivasi tidak dikenal, sudah dipakai, atau kedaluwarsa. Minta kode baru kepada RA.",
        "The activation code is unknown, used or expired. Ask the RA for a new one.",
    ),
    "pass.bad_passphrase": (
        "Passphrase harus 8–256 karakter yang dapat dicetak, dan kedua isian harus sama.",
        "The passphrase must be 8–256 printable characters, and both entries must match.",
    ),
    "yes": ("ya", "yes"),
    "no": ("tidak", "no"),
    "status.good": ("berlaku", "good"),
    "status.revoked": ("dicabut", "revoked"),
    "status.hold": ("ditangguhkan", "suspended"),
    "status.unknown": ("tidak dikenal", "unknown"),
    "status.expired": ("kedaluwarsa", "expired"),
    "status.reserved": ("dicadangkan", "reserved"),
    "status.not_yet_valid": ("belum berlaku", "not yet valid"),
    # repository
    "repo.title": ("Repositori CA", "CA repository"),
    "repo.lead": (
        "Sertifikat CA root dan CA penerbit untuk diunduh, sidik jari SHA-256 untuk "
        "memeriksanya, daftar pencabutan (CRL) dan kebijakan sertifikat (CP/CPS).",
        "The root and issuing CA certificates to download, SHA-256 fingerprints to check them "
        "with, revocation lists (CRLs) and the certificate policy (CP/CPS).",
    ),
    "repo.ca": ("CA", "CA"),
    "repo.subject": ("Subjek", "Subject"),
    "repo.kind": ("Jenis", "Kind"),
    "repo.root": ("CA root", "Root CA"),
    "repo.issuing": ("CA penerbit", "Issuing CA"),
    "repo.valid": ("Berlaku", "Valid"),
    "repo.fingerprint": ("Sidik jari SHA-256", "SHA-256 fingerprint"),
    "repo.download": ("Unduh", "Download"),
    "repo.crl": ("CRL", "CRL"),
    "repo.none": ("Belum ada CA.", "No CA yet."),
    "repo.install": ("Cara memasang", "How to install"),
    "repo.install.check": (
        "Bandingkan sidik jari SHA-256 berkas yang diunduh dengan yang tertera di atas sebelum "
        "memasangnya (openssl x509 -in root-ca.pem -noout -fingerprint -sha256).",
        "Compare the SHA-256 fingerprint of the downloaded file with the one shown above before "
        "installing it (openssl x509 -in root-ca.pem -noout -fingerprint -sha256).",
    ),
    "repo.install.windows": (
        "Windows: buka berkas .crt CA root, pilih \u201cInstall Certificate\u201d, lalu simpan "
        "di \u201cTrusted Root Certification Authorities\u201d.",
        "Windows: open the root CA .crt file, choose \u201cInstall Certificate\u201d and place it "
        "in \u201cTrusted Root Certification Authorities\u201d.",
    ),
    "repo.install.linux": (
        "Debian/Ubuntu: salin berkas PEM CA root ke /usr/local/share/ca-certificates/ dengan "
        "akhiran .crt lalu jalankan update-ca-certificates.",
        "Debian/Ubuntu: copy the root CA PEM file to /usr/local/share/ca-certificates/ with a "
        ".crt suffix and run update-ca-certificates.",
    ),
    "repo.install.acrobat": (
        "Adobe Acrobat Reader: Preferensi \u2192 Tanda Tangan \u2192 Identitas & Sertifikat "
        "Tepercaya \u2192 Impor, lalu centang \u201cGunakan sertifikat ini sebagai root "
        "tepercaya\u201d.",
        "Adobe Acrobat Reader: Preferences \u2192 Signatures \u2192 Identities & Trusted "
        "Certificates \u2192 Import, then tick \u201cUse this certificate as a trusted root\u201d.",
    ),
    "repo.cps": ("Kebijakan sertifikat (CP/CPS)", "Certificate policy (CP/CPS)"),
    "tl.title": ("Daftar tepercaya nasional (PSrE Induk)", "National trusted list (PSrE Induk)"),
    "tl.lead": (
        "PSrE yang diakui PSrE Induk, ditandatangani (XAdES)",
        "PSrEs recognized by the PSrE Induk, signed (XAdES)",
    ),
    "tl.none": ("Belum ada daftar tepercaya yang diterbitkan.", "No trusted list published yet."),
    "tl.provider": ("Penyelenggara", "Provider"),
    "tl.service": ("Layanan (sertifikat CA)", "Service (CA certificate)"),
    "tl.status": ("Status", "Status"),
    "tl.since": ("Sejak", "Since"),
    "repo.cps.lead": (
        "CP/CPS dibuat dari profil sertifikat yang benar-benar dipakai CA ini.",
        "The CP/CPS is rendered from the certificate profiles this CA actually uses.",
    ),
    "repo.cps.read": ("Baca CP/CPS", "Read the CP/CPS"),
    # status
    "status.title": ("Status layanan", "Service status"),
    "status.crl": ("Daftar pencabutan (CRL)", "Revocation lists (CRL)"),
    "status.ocsp": ("Responder OCSP", "OCSP responder"),
    "status.not_published": ("belum diterbitkan", "not published yet"),
    "status.this_update": ("Diterbitkan", "Issued"),
    "status.next_update": ("Pembaruan berikutnya", "Next update"),
    "status.age": ("Usia", "Age"),
    "status.fresh": ("segar", "fresh"),
    "status.stale": ("kedaluwarsa", "stale"),
    "status.hsm": ("Modul HSM", "HSM"),
    "status.hsm.unused": ("tidak digunakan oleh peran ini", "not used by this role"),
    "status.db": ("Basis data", "Database"),
    "status.ok": ("baik", "ok"),
    "status.down": ("bermasalah", "failing"),
    "status.checked": ("Diperiksa", "Checked"),
    "status.ocsp.available": ("tersedia di /ocsp", "served at /ocsp"),
    "status.ocsp.responses": ("Respons pra-tanda tangan", "Pre-signed responses"),
    "status.ocsp.oldest": ("Tertua", "Oldest"),
    "status.ocsp.soonest": ("Kedaluwarsa paling awal", "Soonest expiry"),
    # console: login
    "login.title": ("Masuk konsol operator", "Operator console sign-in"),
    "login.name": ("Nama operator", "Operator name"),
    "login.password": ("Kata sandi", "Password"),
    "login.submit": ("Masuk", "Sign in"),
    "login.failed": ("Nama atau kata sandi salah.", "Wrong name or password."),
    "login.throttled": (
        "Terlalu banyak percobaan gagal. Coba lagi nanti.",
        "Too many failed attempts. Try again later.",
    ),
    "login.expired": ("Sesi berakhir; silakan masuk lagi.", "Session ended; please sign in again."),
    "logout": ("Keluar", "Sign out"),
    "csrf.failed": (
        "Formulir kedaluwarsa atau tidak sah. Muat ulang halaman dan coba lagi.",
        "The form expired or is not valid. Reload the page and try again.",
    ),
    "forbidden": ("Peran Anda tidak mengizinkan tindakan ini.", "Your role does not allow this."),
    "input.invalid": (
        "Permintaan berisi nilai yang tidak sah (karakter kontrol atau angka di luar batas).",
        "The request holds a value that is not valid (a control character or a number out of "
        "range).",
    ),
    # console: nav
    "console.dashboard": ("Dasbor", "Dashboard"),
    "console.certificates": ("Sertifikat", "Certificates"),
    "console.subscribers": ("Pelanggan", "Subscribers"),
    "console.clients": ("Aplikasi klien", "Client apps"),
    "console.audit": ("Log audit", "Audit log"),
    "console.operators": ("Operator", "Operators"),
    "console.signed_in_as": ("Masuk sebagai", "Signed in as"),
    "role.ra": ("petugas RA", "RA officer"),
    "role.auditor": ("auditor", "auditor"),
    "role.admin": ("admin", "admin"),
    # dashboard
    "dash.counts": ("Sertifikat menurut status", "Certificates by status"),
    "dash.chart": (
        "Penerbitan dan penandatanganan per hari (30 hari)",
        "Issuance and signing per day (30 days)",
    ),
    "dash.issued": ("diterbitkan", "issued"),
    "dash.signed": ("ditandatangani", "signed"),
    "dash.health": ("Kesehatan sistem", "System health"),
    "dash.freshness": ("Kesegaran CRL/OCSP", "CRL/OCSP freshness"),
    "dash.subscribers": ("Pelanggan menurut status", "Subscribers by status"),
    "dash.total": ("Jumlah", "Total"),
    # certificates
    "cert.search": ("Cari", "Search"),
    "cert.query": (
        "Nomor seri, NIK, nama atau e-mail",
        "Serial number, NIK, name or e-mail",
    ),
    "cert.results": ("Hasil", "Results"),
    "cert.none": ("Tidak ada sertifikat yang cocok.", "No matching certificate."),
    "cert.serial": ("Nomor seri", "Serial"),
    "cert.subject": ("Subjek", "Subject"),
    "cert.issuer": ("Penerbit", "Issuer"),
    "cert.profile": ("Profil", "Profile"),
    "cert.status": ("Status", "Status"),
    "cert.not_before": ("Berlaku mulai", "Not before"),
    "cert.not_after": ("Berlaku sampai", "Not after"),
    "cert.revoked_at": ("Dicabut pada", "Revoked at"),
    "cert.reason": ("Alasan", "Reason"),
    "cert.fingerprint": ("Sidik jari SHA-256", "SHA-256 fingerprint"),
    "cert.san": ("Nama alternatif", "Alternative names"),
    "cert.extensions": ("Ekstensi", "Extensions"),
    "cert.key": ("Kunci publik", "Public key"),
    "cert.subscriber": ("Pelanggan", "Subscriber"),
    "cert.change": ("Ubah status", "Change status"),
    "cert.revoke": ("Cabut", "Revoke"),
    "cert.suspend": ("Tangguhkan", "Suspend"),
    "cert.release": ("Aktifkan kembali", "Release"),
    "cert.action": ("Tindakan", "Action"),
    "cert.continue": ("Lanjut", "Continue"),
    "cert.confirm": ("Konfirmasi", "Confirm"),
    "cert.confirm.lead": (
        "Periksa sekali lagi. Pencabutan bersifat final dan tidak dapat dibatalkan.",
        "Check once more. Revocation is final and cannot be undone.",
    ),
    "cert.cancel": ("Batal", "Cancel"),
    "cert.changed": ("Status sertifikat diubah menjadi", "Certificate status changed to"),
    "cert.unchanged": ("Tidak ada perubahan; status tetap", "Nothing changed; the status stays"),
    "cert.download": ("Unduh", "Download"),
    "cert.back": ("Kembali ke pencarian", "Back to search"),
    # subscribers
    "sub.register": ("Daftarkan pelanggan", "Register a subscriber"),
    "sub.kind": ("Jenis", "Kind"),
    "sub.person": ("perorangan (ASN)", "person (civil servant)"),
    "sub.agency_kind": ("instansi (segel)", "agency (seal)"),
    "sub.name": ("Nama", "Name"),
    "sub.email": ("E-mail", "E-mail"),
    "sub.nik": ("NIK", "NIK"),
    "sub.agency": ("Instansi", "Agency"),
    "sub.org_id": ("ID organisasi (NTRID-…)", "Organisation ID (NTRID-…)"),
    "sub.status": ("Status", "Status"),
    "sub.set_status": ("Ubah status", "Change status"),
    "sub.reset": (
        "Setel ulang passphrase (kirim kode aktivasi baru)",
        "Reset passphrase (send a new activation code)",
    ),
    "sub.registered": ("Pelanggan terdaftar", "Subscriber registered"),
    "sub.status_changed": ("Status pelanggan diubah", "Subscriber status changed"),
    "sub.code_sent": (
        "Kode aktivasi dikirim ke e-mail pelanggan; pelanggan menetapkan passphrase-nya sendiri",
        "An activation code was sent to the subscriber's e-mail; they set their passphrase "
        "themselves",
    ),
    "sub.reset_done": (
        "Passphrase lama tidak berlaku lagi; kode aktivasi baru dikirim ke e-mail pelanggan",
        "The old passphrase no longer works; a new activation code was sent to the "
        "subscriber's e-mail",
    ),
    "sub.none": ("Belum ada pelanggan.", "No subscribers yet."),
    "sub.certificates": ("Sertifikat", "Certificates"),
    # clients
    "client.create": ("Buat aplikasi klien", "Create a client app"),
    "client.name": ("Nama aplikasi", "Application name"),
    "client.username": ("Nama pengguna", "Username"),
    "client.enabled": ("Aktif", "Enabled"),
    "client.disable": ("Nonaktifkan", "Disable"),
    "client.created": ("Aplikasi klien dibuat", "Client app created"),
    "client.secret": (
        "Rahasia klien (ditampilkan sekali saja; simpan sekarang)",
        "Client secret (shown this once only; store it now)",
    ),
    "client.none": ("Belum ada aplikasi klien.", "No client apps yet."),
    "client.disabled": ("Aplikasi klien dinonaktifkan", "Client app disabled"),
    # audit
    "audit.seq": ("No.", "Seq"),
    "audit.time": ("Waktu", "Time"),
    "audit.actor": ("Pelaku", "Actor"),
    "audit.action": ("Tindakan", "Action"),
    "audit.object": ("Objek", "Object"),
    "audit.details": ("Rincian", "Details"),
    "audit.filter": ("Saring", "Filter"),
    "audit.verify": ("Verifikasi rantai", "Verify chain"),
    "audit.ok": ("Rantai utuh", "Chain intact"),
    "audit.bad": ("Rantai rusak", "Chain broken"),
    "audit.events": ("kejadian", "events"),
    "audit.first_bad": ("kejadian rusak pertama", "first bad event"),
    "audit.newer": ("Lebih baru", "Newer"),
    "audit.older": ("Lebih lama", "Older"),
    # operators
    "op.name": ("Nama", "Name"),
    "op.role": ("Peran", "Role"),
    "op.enabled": ("Aktif", "Enabled"),
    "op.last_login": ("Login terakhir", "Last sign-in"),
    "op.add": ("Tambah operator", "Add operator"),
    "op.password": ("Kata sandi awal", "Initial password"),
    "op.disable": ("Nonaktifkan", "Disable"),
    "op.added": ("Operator ditambahkan", "Operator added"),
    "op.disabled": ("Operator dinonaktifkan", "Operator disabled"),
    "error": ("Kesalahan", "Error"),
    "never": ("belum pernah", "never"),
    # dual control
    "console.approvals": ("Persetujuan", "Approvals"),
    "cert.ca_level": (
        "Sertifikat tingkat CA: statusnya hanya diubah dalam upacara kunci atau dengan "
        "persetujuan dua admin.",
        "CA-level certificate: its status changes only in a key ceremony or with the approval "
        "of two admins.",
    ),
    "sub.can_sign": ("Dapat menandatangani", "Can sign"),
    "client.enable": ("Aktifkan (perlu admin kedua)", "Enable (needs a second admin)"),
    "approval.lead": (
        "Satu admin mengusulkan, admin lain menyetujui sebelum batas waktu. Berlaku untuk status "
        "sertifikat CA/OCSP/TSA, penambahan dan penonaktifan admin, dan pengaktifan kembali "
        "aplikasi klien.",
        "One admin proposes, a different admin approves before the time limit. Needed for the "
        "status of CA/OCSP/TSA certificates, adding and disabling admins, and re-enabling "
        "client apps.",
    ),
    "approval.propose": ("Usulkan perubahan status", "Propose a status change"),
    "approval.certificate": ("Sertifikat", "Certificate"),
    "approval.action": ("Tindakan", "Action"),
    "approval.what": ("Usulan", "Proposal"),
    "approval.target": ("Objek", "Object"),
    "approval.by": ("Diusulkan oleh", "Proposed by"),
    "approval.expires": ("Berlaku sampai", "Expires"),
    "approval.state": ("Keadaan", "State"),
    "approval.approve": ("Setujui", "Approve"),
    "approval.reject": ("Tolak", "Reject"),
    "approval.proposed": (
        "Usulan dicatat; admin lain harus menyetujuinya.",
        "Proposal recorded; another admin must approve it.",
    ),
    "approval.approved": ("Usulan disetujui dan dijalankan", "Proposal approved and carried out"),
    "approval.rejected": ("Usulan ditolak", "Proposal rejected"),
    "approval.bad": ("Usulan tidak sah", "Invalid proposal"),
    "approval.none": ("Belum ada usulan.", "No proposals yet."),
    "approval.expired": ("kedaluwarsa", "expired"),
}


def current_lang() -> str:
    lang = request.cookies.get(COOKIE, DEFAULT)
    return lang if lang in LANGS else DEFAULT


def translate(key: str, lang: str | None = None) -> str:
    """The message ``key`` in ``lang`` (default: the request's); the key itself if unknown, so a
    missing entry shows up on the page rather than as an error."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry[LANGS.index(lang or current_lang())]
