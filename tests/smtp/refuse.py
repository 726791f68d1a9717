"""An aiosmtpd handler that refuses every recipient for good (550), as a
mail server does for an address that does not exist. The tests run it as
`python -m aiosmtpd -n -c refuse.Refuse` with this folder on PYTHONPATH."""


class Refuse:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user here"
