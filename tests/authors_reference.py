"""An independent, literal transcription of the authors' RAS v1 / v2 module structure.

Written from the papers' description and the released checkpoints' key layout (``resnet.`` /
``bkbone.`` backbones, ``nn.Sequential`` heads with the authors' indices), in the authors'
style: separate classes per version, explicit layer lists, ``F.interpolate`` calls spelled out.
Used only by the tests, to check that our compact implementation computes the same function
from the same official state dict.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn


def up(x, size):
    return F.interpolate(x, size, mode="bilinear", align_corners=True)


class ResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        r = torchvision.models.resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = r.conv1, r.bn1, r.relu, r.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4

    def forward(self, x):
        x1 = self.relu(self.bn1(self.conv1(x)))
        x2 = self.layer1(self.maxpool(x1))
        x3 = self.layer2(x2)
        x4 = self.layer3(x3)
        x5 = self.layer4(x4)
        return x1, x2, x3, x4, x5


class MSCMv1(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.convert = nn.Conv2d(cin, c, 1)
        self.branch1 = nn.Sequential(
            nn.Conv2d(c, c, 1),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=1, dilation=1),
            nn.ReLU(True),
        )
        self.branch2 = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=2, dilation=2),
            nn.ReLU(True),
        )
        self.branch3 = nn.Sequential(
            nn.Conv2d(c, c, 5, padding=2),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=4, dilation=4),
            nn.ReLU(True),
        )
        self.branch4 = nn.Sequential(
            nn.Conv2d(c, c, 7, padding=3),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=6, dilation=6),
            nn.ReLU(True),
        )
        self.score = nn.Conv2d(4 * c, 1, 3, padding=1)

    def forward(self, x):
        x = self.convert(x)
        x = torch.cat((self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)), 1)
        return self.score(x)


class MSCMv2(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.convert = nn.Conv2d(cin, c, 1)
        self.bn = nn.BatchNorm2d(c)

        def br(k1, p1, d):
            return nn.Sequential(
                nn.Conv2d(c, c, k1, padding=p1),
                nn.BatchNorm2d(c),
                nn.ReLU(True),
                nn.Conv2d(c, c, 3, padding=d, dilation=d),
                nn.BatchNorm2d(c),
                nn.ReLU(True),
            )

        self.branch1, self.branch2 = br(1, 0, 1), br(3, 1, 2)
        self.branch3, self.branch4 = br(5, 2, 4), br(7, 3, 6)
        self.score = nn.Conv2d(4 * c, 1, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.bn(self.convert(x)))
        x = torch.cat((self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)), 1)
        return self.score(x)


class RAv1(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.convert = nn.Conv2d(cin, c, 1)
        self.convs = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(c, 1, 3, padding=1),
        )
        self.channel = c

    def forward(self, x, y):
        a = torch.sigmoid(-y)
        x = self.convert(x)
        x = a.expand(-1, self.channel, -1, -1).mul(x)
        return y + self.convs(x)


class RAv2(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.convert = nn.Conv2d(cin, c, 1)
        self.bn = nn.BatchNorm2d(c)
        self.convs = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
            nn.Conv2d(c, 1, 3, padding=1),
        )
        self.channel = c

    def forward(self, x, y):
        a = torch.sigmoid(-y)
        x = F.relu(self.bn(self.convert(x)))
        x = a.expand(-1, self.channel, -1, -1).mul(x)
        return y + self.convs(x)


class AuthorsRASv1(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = ResNet50()
        self.mscm = MSCMv1(2048, 64)
        self.ra1, self.ra2 = RAv1(64, 64), RAv1(256, 64)
        self.ra3, self.ra4 = RAv1(512, 64), RAv1(1024, 64)

    def forward(self, x):
        size = x.size()[2:]
        x1, x2, x3, x4, x5 = self.resnet(x)
        y5 = self.mscm(x5)
        score5 = up(y5, size)
        y4 = self.ra4(x4, up(y5, x4.size()[2:]))
        score4 = up(y4, size)
        y3 = self.ra3(x3, up(y4, x3.size()[2:]))
        score3 = up(y3, size)
        y2 = self.ra2(x2, up(y3, x2.size()[2:]))
        score2 = up(y2, size)
        y1 = self.ra1(x1, up(y2, x1.size()[2:]))
        score1 = up(y1, size)
        return score1, score2, score3, score4, score5


class AuthorsRASv2(nn.Module):
    def __init__(self):
        super().__init__()
        self.bkbone = ResNet50()
        self.mscm = MSCMv2(2048, 64)
        self.ra2, self.ra3, self.ra4 = RAv2(256, 64), RAv2(512, 64), RAv2(1024, 64)

    def forward(self, x):
        size = x.size()[2:]
        _, x2, x3, x4, x5 = self.bkbone(x)
        y5 = self.mscm(x5)
        score5 = up(y5, size)
        y4 = self.ra4(x4, up(y5, x4.size()[2:]))
        score4 = up(y4, size)
        y3 = self.ra3(x3, up(y4, x3.size()[2:]))
        score3 = up(y3, size)
        y2 = self.ra2(x2, up(y3, x2.size()[2:]))
        score2 = up(y2, size)
        return score2, score3, score4, score5
