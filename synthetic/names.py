"""Small embedded word lists for fake, clearly synthetic customer PII.

All names are common given names / surnames; combined at random with a customer number and a
reserved demo domain (RFC 2606: ``example.com``, ``example.org``, ``example.net``) they cannot
identify a real person.  Lists are plain ASCII so that e-mail local parts can be derived from
them by lower-casing.
"""

from __future__ import annotations

FIRST_NAMES_F: tuple[str, ...] = (
    "Olivia", "Emma", "Amelia", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Emily",
    "Grace", "Lily", "Chloe", "Ella", "Hannah", "Lucy", "Ruby", "Jessica", "Sarah", "Laura",
    "Anna", "Maria", "Julia", "Clara", "Lea", "Sofia", "Elena", "Ines", "Camille", "Manon",
    "Chiara", "Giulia", "Ingrid", "Astrid", "Freya", "Nora", "Maja", "Eva", "Paula", "Carmen",
    "Lucia", "Alice", "Zoe", "Rachel", "Helen", "Karen", "Linda", "Susan", "Margaret", "Fiona",
    "Aoife", "Siobhan", "Niamh", "Priya", "Aisha", "Yuki", "Mei", "Fatima", "Leila", "Amara",
    "Nadia",
)  # fmt: skip

FIRST_NAMES_M: tuple[str, ...] = (
    "Oliver", "George", "Harry", "Jack", "Noah", "Leo", "Arthur", "Thomas", "James", "William",
    "Henry", "Charlie", "Oscar", "Samuel", "Daniel", "David", "Michael", "John", "Peter", "Paul",
    "Mark", "Andrew", "Robert", "Richard", "Lukas", "Felix", "Jonas", "Max", "Louis", "Hugo",
    "Lucas", "Mateo", "Pablo", "Javier", "Marco", "Luca", "Matteo", "Lars", "Erik", "Magnus",
    "Sven", "Jan", "Pieter", "Bram", "Joao", "Tiago", "Sean", "Connor", "Liam", "Ciaran",
    "Ravi", "Arjun", "Omar", "Yusuf", "Kenji", "Wei", "Tariq", "Kwame", "Diego", "Nico",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Murphy", "Kelly", "Byrne", "Ryan", "Walsh", "Muller", "Schmidt",
    "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Martin", "Bernard", "Dubois",
    "Durand", "Leroy", "Moreau", "Garcia", "Fernandez", "Lopez", "Martinez", "Sanchez", "Perez",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Jansen", "DeVries", "Bakker",
    "Visser", "Peeters", "Maes", "Silva", "Santos", "Ferreira", "Pereira", "Hansen", "Johansen",
    "Olsen", "Larsen", "Andersson", "Nilsson", "Karlsson", "Eriksson", "Meier", "Keller",
    "Huber", "Miller", "Davis", "Anderson", "Moore", "Lee", "Nguyen", "Patel", "Khan", "Singh",
    "Ali", "Chen", "Wang", "Kim", "Tanaka", "Sato", "Novak", "Kowalski", "Nowak", "Horvat",
    "Popescu", "Ivanov", "Okafor", "Mensah", "Cohen", "Levi", "Stewart", "Campbell", "Morrison",
)  # fmt: skip

EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net")
