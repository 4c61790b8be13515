"""Personal carbon accounts: each borrower's avoided emissions, credited loan by loan under a keyed
pseudonym, readable by the lender, erasable on the customer's request."""

from carbon.books.accounts.routes import account_routes
from carbon.books.accounts.use_cases import AccountQuery, Accounts, EraseAccount, Erasure

__all__ = ["AccountQuery", "Accounts", "EraseAccount", "Erasure", "account_routes"]
